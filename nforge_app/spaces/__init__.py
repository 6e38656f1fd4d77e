"""Output spaces: the fsaverage5 surface and the Schaefer-1000 parcels, atlases and ROI selection."""
