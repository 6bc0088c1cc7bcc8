"""The in-browser explorer: ONNX graphs, the site bundle, the local server, the demo and the shipped model
(pretrained/), the pages (web/)."""
