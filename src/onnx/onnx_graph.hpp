// private: include only from src/ and tests/
#pragma once
// Walking and editing ONNX graphs: subgraphs, names, node insertion and decode-subgraph regions.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "onnx/onnx_proto.hpp"

namespace palettize::onnx_io {

// Calls `visit(graph, path)` for `root` (path "main") and every subgraph below it, depth first in node
// order; a subgraph's path is "<parent>/<node name or op#index>:<attribute>".
void for_each_graph(onnx::GraphProto& root, const std::function<void(onnx::GraphProto&, const std::string&)>& visit);

// Every value name used anywhere in the model (inputs, outputs, initializers, node inputs and outputs).
std::unordered_set<std::string> all_value_names(onnx::ModelProto& model);

// Error unless every graph is single-assignment: no value is computed by two nodes, or by a node and also
// given as a graph input or initializer. The rewrite (replace a tensor's producer by a decode subgraph, then
// find that subgraph again by its output) relies on it; the ONNX checker refuses such graphs too.
void check_single_assignment(onnx::ModelProto& model, std::string_view label);

bool is_constant_node(const onnx::NodeProto& node);
// The `value` tensor attribute of a Constant node, or nullptr.
onnx::TensorProto* constant_value(onnx::NodeProto& node);

// Inserts `nodes` before position `position` of `graph`'s node list.
void insert_nodes(onnx::GraphProto& graph, int position, std::vector<onnx::NodeProto> nodes);
// Removes the initializer at `tensor`'s address. Returns false when it is not in `graph`.
bool remove_initializer(onnx::GraphProto& graph, const onnx::TensorProto* tensor);
// Removes the graph input named `name`, if any.
void remove_graph_input(onnx::GraphProto& graph, const std::string& name);
int index_of_node(const onnx::GraphProto& graph, const onnx::NodeProto* node);  // -1 when absent
onnx::TensorProto* find_initializer(onnx::GraphProto& graph, const std::string& name);

// The nodes computing `output` in `graph` from initializers only (a decode subgraph): the producer of
// `output` and, transitively, the producers of its inputs. `initializers` are the initializer names they
// read. Error when `output` has no producer or the region reads a value that is neither produced inside
// it nor an initializer of `graph`.
struct DecodeRegion {
  std::vector<int> nodes;  // ascending positions in graph.node
  std::vector<std::string> initializers;
};
DecodeRegion find_decode_region(const onnx::GraphProto& graph, const std::string& output);

// Names read by the nodes of `graph` and of its subgraphs (outer-scope reads included).
std::unordered_set<std::string> names_read(onnx::GraphProto& graph);

// Removes the nodes at the given ascending positions.
void remove_nodes(onnx::GraphProto& graph, const std::vector<int>& positions);

}  // namespace palettize::onnx_io
