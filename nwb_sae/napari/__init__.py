"""napari plugin of nwb-sae."""
