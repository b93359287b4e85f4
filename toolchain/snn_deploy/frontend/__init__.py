"""Front end: model files in, a float ``nir.NIRGraph`` out (the product of ``import_model``).

``import_model(path)`` dispatches on the file type: ``.pt``/``.pth`` snn-deploy checkpoints
(loaded with ``torch.load(..., weights_only=True)``, never unpickling code) and ``.nir`` graphs.
"""

from snn_deploy.frontend.load import ImportedModel, import_model

__all__ = ["ImportedModel", "import_model"]
