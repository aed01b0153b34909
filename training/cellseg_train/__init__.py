"""Training, validation and ONNX export of cellseg's Mask R-CNN members."""
