"""The data store: labelled CSI samples the xApp collects, per environment, as bounded and
atomically written shards on any fsspec URL, for the rApp to adapt on (numpy and fsspec only).
"""

from datastore.samples import CSI_SHAPE, LabelledSamples, SampleError

__all__ = ["CSI_SHAPE", "LabelledSamples", "SampleError"]
