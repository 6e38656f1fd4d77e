"""Analyses of predictions (modality attribution, temporal attention, subject adaptation, evaluation).

Planned, not built yet: the web app's attribution and attention panels say so in a sentence. Analyses read
``Prediction`` values and call models through the engine; they are the only place besides ``models/`` and
``features/`` that may import torch.
"""
