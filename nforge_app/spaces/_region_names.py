"""What region codes mean: the full names of the Glasser HCP-MMP1.0 areas (after Glasser et al., 2016,
Nature 536: 171-178, supplementary neuroanatomical results) and the networks and hemispheres of the Schaefer
parcels, for hovers, legends and captions."""

from __future__ import annotations

import re

NETWORK_NAMES = {"Vis": "visual", "SomMot": "somatomotor", "DorsAttn": "dorsal attention",
                 "SalVentAttn": "salience / ventral attention", "Limbic": "limbic", "Cont": "frontoparietal control",
                 "Default": "default mode"}
"""The Yeo-7 networks of the Schaefer parcels, in words."""
_SCHAEFER_PARTS = {"Par": "parietal", "PFC": "prefrontal", "PFCl": "lateral prefrontal", "PFCv": "ventral prefrontal",
                   "PFCmp": "medial posterior prefrontal", "PFCm": "medial prefrontal", "PFCd": "dorsal prefrontal",
                   "Temp": "temporal", "TempPole": "temporal pole", "TempOcc": "temporo-occipital",
                   "FrOperIns": "frontal operculum and insula", "ParOper": "parietal operculum", "Med": "medial",
                   "PrC": "precentral", "FEF": "frontal eye field", "Post": "posterior", "Cing": "cingulate",
                   "pCun": "precuneus", "pCunPCC": "precuneus and posterior cingulate", "PCC": "posterior cingulate",
                   "OFC": "orbitofrontal", "PHC": "parahippocampal", "Ins": "insula", "Rsp": "retrosplenial",
                   "Aud": "auditory", "PFCdPFCm": "dorsal and medial prefrontal",
                   "TempOccPar": "temporo-occipito-parietal", "PrCv": "ventral precentral"}
_SCHAEFER = re.compile(r"^(?:\d+Networks_)?(LH|RH)_([A-Za-z]+)_(?:(.+)_)?(\d+)$")
_GLASSER_TABLE = """
V1|primary visual cortex
MST|medial superior temporal area (visual motion)
V6|sixth visual area
V2|second visual area
V3|third visual area
V4|fourth visual area
V8|eighth visual area
4|primary motor cortex (area 4)
3b|primary somatosensory cortex (area 3b)
FEF|frontal eye field
PEF|premotor eye field
55b|area 55b (premotor, language)
V3A|visual area V3A
RSC|retrosplenial complex
POS2|parieto-occipital sulcus area 2
V7|seventh visual area
IPS1|intraparietal sulcus area 1
FFC|fusiform face complex
V3B|visual area V3B
LO1|lateral occipital area 1
LO2|lateral occipital area 2
PIT|posterior inferotemporal complex
MT|middle temporal area (visual motion)
A1|primary auditory cortex
PSL|perisylvian language area
SFL|superior frontal language area
PCV|precuneus visual area
STV|superior temporal visual area
7Pm|medial area 7P (parietal)
7m|area 7m (medial parietal)
POS1|parieto-occipital sulcus area 1
23d|area 23d (posterior cingulate)
v23ab|ventral areas 23a+b (posterior cingulate)
d23ab|dorsal areas 23a+b (posterior cingulate)
31pv|area 31p ventral (posterior cingulate)
5m|area 5m (paracentral)
5mv|area 5m ventral (paracentral)
23c|area 23c (cingulate)
5L|area 5L (superior parietal)
24dd|dorsal area 24d (cingulate motor)
24dv|ventral area 24d (cingulate motor)
7AL|lateral area 7A (superior parietal)
SCEF|supplementary and cingulate eye field
6ma|area 6m anterior (supplementary motor)
7Am|medial area 7A (superior parietal)
7PL|lateral area 7P (superior parietal)
7PC|area 7PC (superior parietal)
LIPv|lateral intraparietal area, ventral
VIP|ventral intraparietal complex
MIP|medial intraparietal area
1|area 1 (primary somatosensory)
2|area 2 (somatosensory)
3a|area 3a (somatosensory)
6d|dorsal area 6 (premotor)
6mp|area 6m posterior (supplementary motor)
6v|ventral area 6 (premotor)
p24pr|posterior area 24 prime (cingulate)
33pr|area 33 prime (cingulate)
a24pr|anterior area 24 prime (cingulate)
p32pr|area p32 prime (cingulate)
a24|area a24 (anterior cingulate)
d32|dorsal area 32 (anterior cingulate)
8BM|area 8B medial (medial prefrontal)
p32|area p32 (anterior cingulate)
10r|area 10r (medial prefrontal)
47m|area 47m (orbital frontal)
8Av|area 8A ventral (dorsolateral prefrontal)
8Ad|area 8A dorsal (dorsolateral prefrontal)
9m|area 9 middle (medial prefrontal)
8BL|area 8B lateral (dorsolateral prefrontal)
9p|area 9 posterior (dorsolateral prefrontal)
10d|area 10d (frontal pole)
8C|area 8C (dorsolateral prefrontal)
44|area 44 (Broca's area, pars opercularis)
45|area 45 (Broca's area, pars triangularis)
47l|area 47 lateral (inferior frontal)
a47r|anterior area 47r (inferior frontal)
6r|rostral area 6 (premotor)
IFJa|inferior frontal junction, anterior
IFJp|inferior frontal junction, posterior
IFSp|inferior frontal sulcus, posterior
IFSa|inferior frontal sulcus, anterior
p9-46v|posterior area 9-46v (dorsolateral prefrontal)
46|area 46 (dorsolateral prefrontal)
a9-46v|anterior area 9-46v (dorsolateral prefrontal)
9-46d|area 9-46d (dorsolateral prefrontal)
9a|area 9 anterior (dorsolateral prefrontal)
10v|area 10v (medial prefrontal)
a10p|anterior area 10p (frontal pole)
10pp|polar area 10p (frontal pole)
11l|area 11 lateral (orbital frontal)
13l|area 13 lateral (orbital frontal)
OFC|orbital frontal complex
47s|area 47s (orbital frontal)
LIPd|lateral intraparietal area, dorsal
6a|area 6 anterior (premotor)
i6-8|inferior 6-8 transitional area
s6-8|superior 6-8 transitional area
43|area 43 (subcentral, frontal operculum)
OP4|area OP4/PV (parietal operculum)
OP1|area OP1/SII (secondary somatosensory)
OP2-3|area OP2-3/VS (parietal operculum, vestibular)
52|area 52 (insular-auditory transition)
RI|retroinsular cortex
PFcm|area PFcm (parietal operculum)
PoI2|posterior insular area 2
TA2|area TA2 (superior temporal)
FOP4|frontal opercular area 4
MI|middle insular area
Pir|piriform cortex (olfactory)
AVI|anterior ventral insular area
AAIC|anterior agranular insula complex
FOP1|frontal opercular area 1
FOP3|frontal opercular area 3
FOP2|frontal opercular area 2
PFt|area PFt (inferior parietal)
AIP|anterior intraparietal area
EC|entorhinal cortex
PreS|presubiculum
H|hippocampus
ProS|prostriate area
PeEc|perirhinal ectorhinal cortex
STGa|superior temporal gyrus, anterior
PBelt|parabelt complex (auditory association)
A5|auditory 5 complex (auditory association)
PHA1|parahippocampal area 1
PHA3|parahippocampal area 3
STSda|superior temporal sulcus, dorsal anterior
STSdp|superior temporal sulcus, dorsal posterior
STSvp|superior temporal sulcus, ventral posterior
TGd|temporal pole, dorsal (area TG)
TE1a|area TE1 anterior (middle temporal gyrus)
TE1p|area TE1 posterior (middle temporal gyrus)
TE2a|area TE2 anterior (inferior temporal)
TF|area TF (parahippocampal)
TE2p|area TE2 posterior (inferior temporal)
PHT|area PHT (posterior temporal)
PH|area PH (occipitotemporal)
TPOJ1|temporo-parieto-occipital junction 1
TPOJ2|temporo-parieto-occipital junction 2
TPOJ3|temporo-parieto-occipital junction 3
DVT|dorsal transitional visual area
PGp|area PGp (angular gyrus, posterior)
IP2|intraparietal area 2
IP1|intraparietal area 1
IP0|intraparietal area 0
PFop|area PF opercular (inferior parietal)
PF|area PF complex (supramarginal gyrus)
PFm|area PFm complex (supramarginal gyrus)
PGi|area PGi (angular gyrus, inferior)
PGs|area PGs (angular gyrus, superior)
V6A|visual area V6A
VMV1|ventromedial visual area 1
VMV3|ventromedial visual area 3
PHA2|parahippocampal area 2
V4t|area V4t (visual motion)
FST|fundus of the superior temporal visual area
V3CD|visual area V3CD
LO3|lateral occipital area 3
VMV2|ventromedial visual area 2
31pd|area 31p dorsal (posterior cingulate)
31a|area 31a (posterior cingulate)
VVC|ventral visual complex
25|area 25 (subgenual cingulate)
s32|area s32 (subgenual cingulate)
pOFC|posterior orbital frontal complex
PoI1|posterior insular area 1
Ig|insular granular complex
FOP5|frontal opercular area 5
p10p|posterior area 10p (frontal pole)
p47r|posterior area 47r (inferior frontal)
TGv|temporal pole, ventral (area TG)
MBelt|medial belt complex (auditory)
LBelt|lateral belt complex (auditory)
A4|auditory 4 complex (auditory association)
STSva|superior temporal sulcus, ventral anterior
TE1m|area TE1 middle (middle temporal gyrus)
PI|para-insular area
a32pr|anterior area 32 prime (cingulate)
p24|posterior area 24 (cingulate)
"""
GLASSER_NAMES = dict(line.split("|", 1) for line in _GLASSER_TABLE.strip().splitlines())
"""Glasser HCP-MMP1.0 area code -> full name (the 180 areas of one hemisphere)."""


def describe_region(label: str) -> str:
    """A region code in words: ``"A1"`` -> ``"primary auditory cortex"``, ``"7Networks_LH_Vis_3"`` -> ``"left
    hemisphere, visual network, parcel 3"``; ``""`` for a code it does not know."""
    if label in GLASSER_NAMES:
        return GLASSER_NAMES[label]
    match = _SCHAEFER.match(label)
    if match is None or match.group(2) not in NETWORK_NAMES:
        return ""
    hemi, network, part, number = match.groups()
    where = f", {_SCHAEFER_PARTS.get(part, part)}" if part else ""
    return (f"{'left' if hemi == 'LH' else 'right'} hemisphere, {NETWORK_NAMES[network]} network ({network})"
            f"{where}, parcel {number}")
