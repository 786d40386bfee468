"""The report vocabulary: our own phrasings per finding, negations, hedges, abbreviations, prompts.

Every phrase here was written for this project (no text is taken from IU X-ray, MIMIC-CXR or PadChest).
`HELDOUT` phrasings never appear in a generated report: zero-shot evaluation uses them to test whether a
text tower generalises beyond the training vocabulary.
"""

from __future__ import annotations

# Positive phrasings per finding; slots: {side} {size} {zone} {lobe} {mm} {sev}. The order matters: a site's
# report style weights these by index (its "favourite" synonym), see presets.ReportStyle.lexicon.
POSITIVE: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("{sev} cardiomegaly", "{sev} enlargement of the cardiac silhouette",
                     "the heart is {sev}ly enlarged", "enlarged heart size"),
    "pleural_effusion": ("{size} {side} pleural effusion", "{size} {side} effusion",
                         "blunting of the {side} costophrenic angle", "{size} {side} pleural fluid collection"),
    "consolidation": ("consolidation in the {lobe}", "airspace opacity in the {lobe}",
                      "{lobe} airspace disease", "focal infiltrate in the {lobe}"),
    "pneumothorax": ("{size} {side} pneumothorax", "{size} {side} apical pneumothorax",
                     "{side} visceral pleural line with absent lung markings peripherally",
                     "{size} {side} pneumothorax"),
    "nodule": ("{mm} mm nodule in the {lobe}", "nodular opacity in the {lobe}",
               "rounded density projecting over the {lobe}", "{mm} mm pulmonary nodule in the {lobe}"),
    "edema": ("{sev} pulmonary edema", "{sev} interstitial edema", "pulmonary vascular congestion",
              "perihilar haziness in keeping with edema"),
    "atelectasis": ("{side} basilar atelectasis", "subsegmental atelectasis at the {side} base",
                    "plate-like atelectasis in the {side} lower zone", "{side} basal linear opacity"),
}

# Devices are phrased per device type; {side} and {cm} slots.
DEVICES: dict[str, tuple[str, ...]] = {
    "ett": ("endotracheal tube terminates {cm} cm above the carina", "endotracheal tube in satisfactory position"),
    "ngt": ("nasogastric tube courses below the diaphragm", "enteric tube tip projects over the stomach"),
    "cvc": ("{side} internal jugular central line with tip in the SVC", "{side} central venous catheter in place"),
    "pacemaker": ("left chest pacemaker with leads in the right heart", "cardiac pacing device with intact leads"),
    "chest_tube": ("{side} chest tube in place", "{side} pleural drain in situ"),
    "port": ("{side} chest port with catheter tip in the SVC", "{side} port-a-cath in place"),
}

NEGATIVE: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("heart size is normal", "normal cardiac silhouette", "no cardiomegaly",
                     "the heart is not enlarged"),
    "pleural_effusion": ("no pleural effusion", "costophrenic angles are sharp", "no effusion",
                         "pleural spaces are clear"),
    "consolidation": ("no focal consolidation", "lungs are clear", "no airspace disease",
                      "no focal infiltrate"),
    "pneumothorax": ("no pneumothorax", "no evidence of pneumothorax", "pneumothorax is not seen",
                     "negative for pneumothorax"),
    "nodule": ("no suspicious nodules", "no focal nodule", "no pulmonary nodule", "no mass lesion"),
    "edema": ("no pulmonary edema", "no vascular congestion", "pulmonary vasculature is normal",
              "without edema"),
    "atelectasis": ("no atelectasis", "lung volumes are normal", "no collapse", "without atelectasis"),
    "support_devices": ("no lines or tubes", "no support devices", "no indwelling devices",
                        "no lines or tubes"),
}

# The bare noun each finding is hedged with ("possible {noun}").
NOUN: dict[str, str] = {
    "cardiomegaly": "cardiomegaly", "pleural_effusion": "pleural effusion", "consolidation": "consolidation",
    "pneumothorax": "pneumothorax", "nodule": "pulmonary nodule", "edema": "pulmonary edema",
    "atelectasis": "atelectasis", "support_devices": "support devices",
}

# Impression wording per finding (short, priority-ordered in reports.py); consolidation may read "pneumonia".
IMPRESSION: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("cardiomegaly", "enlarged cardiac silhouette"),
    "pleural_effusion": ("{side} pleural effusion", "{side} effusion"),
    "consolidation": ("{lobe} consolidation", "{lobe} pneumonia"),
    "pneumothorax": ("{side} pneumothorax",),
    "nodule": ("{lobe} nodule, recommend CT follow-up", "{lobe} nodular opacity"),
    "edema": ("pulmonary edema", "vascular congestion"),
    "atelectasis": ("{side} basilar atelectasis", "subsegmental atelectasis"),
    "support_devices": ("lines and tubes as described", "support devices in place"),
}

NORMAL_IMPRESSION = ("no acute cardiopulmonary process", "normal chest radiograph", "no acute abnormality")

HEDGES = ("possible {x}", "{x} is suspected", "cannot exclude {x}", "likely {x}", "findings may represent {x}",
          "questionable {x}")

COMPARISON = ("Compared with the prior study.", "Comparison is made with the previous radiograph.",
              "Prior film reviewed.")
INDICATION = ("shortness of breath", "cough and fever", "chest pain", "pre-operative assessment",
              "follow-up", "line placement", "dyspnea", "fall")

# Abbreviations a site may use (replace left by right, case-insensitive on whole phrases).
ABBREVIATIONS = (("pneumothorax", "PTX"), ("endotracheal tube", "ETT"), ("nasogastric tube", "NGT"),
                 ("bilateral", "b/l"), ("right upper lobe", "RUL"), ("right middle lobe", "RML"),
                 ("right lower lobe", "RLL"), ("left upper lobe", "LUL"), ("left lower lobe", "LLL"),
                 ("central venous catheter", "CVC"), ("internal jugular", "IJ"),
                 ("pleural effusion", "effusion"))

UK_SPELLING = (("edema", "oedema"), ("Edema", "Oedema"))

# Synonyms NEVER used in generated reports (tests check this): for zero-shot generalisation.
HELDOUT: dict[str, dict[str, tuple[str, ...]]] = {
    "cardiomegaly": {"positive": ("increased cardiothoracic ratio", "big heart"),
                     "negative": ("cardiothoracic ratio within normal limits",)},
    "pleural_effusion": {"positive": ("hydrothorax", "fluid layering in the pleural space"),
                         "negative": ("no hydrothorax",)},
    "consolidation": {"positive": ("lobar opacification", "alveolar filling process"),
                      "negative": ("no lobar opacification",)},
    "pneumothorax": {"positive": ("pleural air", "air within the pleural cavity"),
                     "negative": ("no pleural air",)},
    "nodule": {"positive": ("coin lesion", "spherical lung lesion"),
               "negative": ("no coin lesion",)},
    "edema": {"positive": ("fluid overload", "cephalisation of vessels"),
              "negative": ("no fluid overload",)},
    "atelectasis": {"positive": ("volume loss", "partial lobar collapse"),
                    "negative": ("no volume loss",)},
    "support_devices": {"positive": ("indwelling catheter", "implanted hardware"),
                        "negative": ("no implanted hardware",)},
}

# Bare in-vocabulary prompts (two phrases generated reports do use, slot-free, per side): the zero-shot prompts
# until 2026-12; `prompts.zero_shot_prompts("bare")` still gives them, for comparison.
PROMPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "cardiomegaly": {"positive": ("cardiomegaly", "enlarged heart size"),
                     "negative": ("heart size is normal", "no cardiomegaly")},
    "pleural_effusion": {"positive": ("pleural effusion", "effusion"),
                         "negative": ("no pleural effusion", "costophrenic angles are sharp")},
    "consolidation": {"positive": ("consolidation", "airspace opacity"),
                      "negative": ("no focal consolidation", "lungs are clear")},
    "pneumothorax": {"positive": ("pneumothorax", "apical pneumothorax"),
                     "negative": ("no pneumothorax", "no evidence of pneumothorax")},
    "nodule": {"positive": ("pulmonary nodule", "nodular opacity"),
               "negative": ("no pulmonary nodule", "no suspicious nodules")},
    "edema": {"positive": ("pulmonary edema", "pulmonary vascular congestion"),
              "negative": ("no pulmonary edema", "no vascular congestion")},
    "atelectasis": {"positive": ("basilar atelectasis", "subsegmental atelectasis"),
                    "negative": ("no atelectasis", "without atelectasis")},
    "support_devices": {"positive": ("endotracheal tube", "central venous catheter in place"),
                        "negative": ("no lines or tubes", "no support devices")},
}
