"""The results side: what nwb-sae writes into NWB and reads back.

``schema`` names the module's objects, columns and provenance once; ``write`` (with ``write_model``,
``write_codes``, ``write_tables``, ``write_module``) writes them; ``read`` reads them back with h5py
alone and imports no writer module; ``validation`` checks a written file. Nothing is imported here,
so that reading results never loads the writer (nor pynwb).
"""
