"""The comparison server for carton-serve's throughput: KServe's own
Python ModelServer serving an ONNX model through ONNX Runtime's Python API
(one intra-op and one inter-op thread, as carton-serve's benchmark model),
over the same Open Inference Protocol.

usage: kserve_onnx.py MODEL.onnx HTTP_PORT GRPC_PORT
"""
import sys

import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer


class OnnxModel(Model):
    def __init__(self, name, path):
        super().__init__(name)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, opts)
        self.ready = True

    def predict(self, payload: InferRequest, headers=None):
        feeds = {i.name: i.as_numpy() for i in payload.inputs}
        outputs = []
        for meta, value in zip(self.session.get_outputs(), self.session.run(None, feeds)):
            out = InferOutput(name=meta.name, shape=list(value.shape), datatype="FP32")
            out.set_data_from_numpy(value, binary_data=False)
            outputs.append(out)
        return InferResponse(model_name=self.name, infer_outputs=outputs, response_id=payload.id or "")


if __name__ == "__main__":
    path, http_port, grpc_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ModelServer(http_port=http_port, grpc_port=grpc_port).start([OnnxModel("m", path)])
