"""Your own labelled images: readers for the formats researchers already have, into one container.

`labelled_images.py` holds the container (`LabelledImages`) and its rules; `folders.py`, `npz.py` and
`huggingface.py` read image-folder trees, `.npz` archives and Hugging Face `save_to_disk` folders;
`detect.py` (`read_dataset`) tells them apart; `report.py` describes what was read. Readers write nothing.
"""
