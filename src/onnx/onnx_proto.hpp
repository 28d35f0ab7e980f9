// private: include only from src/ and tests/
#pragma once
// Debian's generated ONNX protobuf classes (libonnx-dev, onnx-ml.proto). ONNX_ML selects the -ml variant
// that libonnx_proto.so was built from; onnx_pb.h also defines the ONNX_API export macro the header needs.
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include <onnx/onnx_pb.h>
