#include "onnx/onnx_graph.hpp"

#include <algorithm>
#include <unordered_map>

#include "palettize/error.hpp"
#include "text/utf8.hpp"

namespace palettize::onnx_io {
namespace {

void visit_graph(onnx::GraphProto& graph, const std::string& path,
                 const std::function<void(onnx::GraphProto&, const std::string&)>& visit) {
  visit(graph, path);
  for (int i = 0; i < graph.node_size(); ++i) {
    onnx::NodeProto& node = *graph.mutable_node(i);
    const std::string label = node.name().empty() ? node.op_type() + "#" + std::to_string(i) : node.name();
    for (onnx::AttributeProto& attribute : *node.mutable_attribute()) {
      const std::string sub_path = path + "/" + label + ":" + attribute.name();
      if (attribute.has_g()) visit_graph(*attribute.mutable_g(), sub_path, visit);
      for (int g = 0; g < attribute.graphs_size(); ++g)
        visit_graph(*attribute.mutable_graphs(g), sub_path + "[" + std::to_string(g) + "]", visit);
    }
  }
}

}  // namespace

void for_each_graph(onnx::GraphProto& root, const std::function<void(onnx::GraphProto&, const std::string&)>& visit) {
  visit_graph(root, "main", visit);
}

std::unordered_set<std::string> all_value_names(onnx::ModelProto& model) {
  std::unordered_set<std::string> names;
  for_each_graph(*model.mutable_graph(), [&](onnx::GraphProto& graph, const std::string&) {
    for (const auto& v : graph.input()) names.insert(v.name());
    for (const auto& v : graph.output()) names.insert(v.name());
    for (const auto& v : graph.value_info()) names.insert(v.name());
    for (const auto& t : graph.initializer()) names.insert(t.name());
    for (const auto& s : graph.sparse_initializer()) names.insert(s.values().name());
    for (const auto& node : graph.node()) {
      names.insert(node.input().begin(), node.input().end());
      names.insert(node.output().begin(), node.output().end());
    }
  });
  return names;
}

void check_single_assignment(onnx::ModelProto& model, std::string_view label) {
  for_each_graph(*model.mutable_graph(), [&](onnx::GraphProto& graph, const std::string& path) {
    std::unordered_set<std::string> given;  // an initializer may also be listed as an input (before IR 4)
    for (const auto& v : graph.input()) given.insert(v.name());
    for (const auto& t : graph.initializer()) given.insert(t.name());
    std::unordered_set<std::string> computed;
    for (const onnx::NodeProto& node : graph.node()) {
      for (const std::string& output : node.output()) {
        if (output.empty()) continue;  // an optional output left out
        check(!given.count(output) && computed.insert(output).second, "ONNX model ", label, ": value '",
              utf8::shortened(output), "' in graph ", utf8::shortened(path), " is ",
              given.count(output) ? "a graph input or initializer and also computed by a node"
                                  : "computed by more than one node",
              "; ONNX graphs are single-assignment");
      }
    }
  });
}

bool is_constant_node(const onnx::NodeProto& node) {
  return node.op_type() == "Constant" && (node.domain().empty() || node.domain() == "ai.onnx");
}

onnx::TensorProto* constant_value(onnx::NodeProto& node) {
  if (!is_constant_node(node) || node.output_size() != 1) return nullptr;
  for (onnx::AttributeProto& attribute : *node.mutable_attribute())
    if (attribute.name() == "value" && attribute.has_t()) return attribute.mutable_t();
  return nullptr;
}

void insert_nodes(onnx::GraphProto& graph, int position, std::vector<onnx::NodeProto> nodes) {
  auto* list = graph.mutable_node();
  const int old_size = list->size();
  for (onnx::NodeProto& node : nodes) *list->Add() = std::move(node);
  std::rotate(list->pointer_begin() + position, list->pointer_begin() + old_size, list->pointer_end());
}

bool remove_initializer(onnx::GraphProto& graph, const onnx::TensorProto* tensor) {
  for (int i = 0; i < graph.initializer_size(); ++i) {
    if (&graph.initializer(i) == tensor) {
      graph.mutable_initializer()->DeleteSubrange(i, 1);
      return true;
    }
  }
  return false;
}

void remove_graph_input(onnx::GraphProto& graph, const std::string& name) {
  for (int i = 0; i < graph.input_size(); ++i) {
    if (graph.input(i).name() == name) {
      graph.mutable_input()->DeleteSubrange(i, 1);
      return;
    }
  }
}

int index_of_node(const onnx::GraphProto& graph, const onnx::NodeProto* node) {
  for (int i = 0; i < graph.node_size(); ++i)
    if (&graph.node(i) == node) return i;
  return -1;
}

onnx::TensorProto* find_initializer(onnx::GraphProto& graph, const std::string& name) {
  for (onnx::TensorProto& t : *graph.mutable_initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

DecodeRegion find_decode_region(const onnx::GraphProto& graph, const std::string& output) {
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < graph.node_size(); ++i)
    for (const std::string& out : graph.node(i).output()) producer.emplace(out, i);
  std::unordered_set<std::string> initializer_names;
  for (const auto& t : graph.initializer()) initializer_names.insert(t.name());

  DecodeRegion region;
  std::unordered_set<int> seen_nodes;
  std::unordered_set<std::string> seen_initializers;
  std::vector<std::string> pending{output};
  check(producer.count(output) != 0, "palettized ONNX tensor ", output, " has no node computing it");
  while (!pending.empty()) {
    const std::string name = std::move(pending.back());
    pending.pop_back();
    if (name.empty()) continue;
    if (auto it = producer.find(name); it != producer.end()) {
      if (!seen_nodes.insert(it->second).second) continue;
      const auto& inputs = graph.node(it->second).input();
      pending.insert(pending.end(), inputs.begin(), inputs.end());
    } else {
      check(initializer_names.count(name) != 0, "the decode subgraph of palettized ONNX tensor ", output,
            " reads ", name, ", which is neither computed inside it nor an initializer");
      if (seen_initializers.insert(name).second) region.initializers.push_back(name);
    }
  }
  region.nodes.assign(seen_nodes.begin(), seen_nodes.end());
  std::sort(region.nodes.begin(), region.nodes.end());
  std::sort(region.initializers.begin(), region.initializers.end());
  return region;
}

std::unordered_set<std::string> names_read(onnx::GraphProto& graph) {
  std::unordered_set<std::string> names;
  visit_graph(graph, "", [&](onnx::GraphProto& g, const std::string&) {
    for (const auto& node : g.node()) names.insert(node.input().begin(), node.input().end());
  });
  return names;
}

void remove_nodes(onnx::GraphProto& graph, const std::vector<int>& positions) {
  for (auto it = positions.rbegin(); it != positions.rend(); ++it) graph.mutable_node()->DeleteSubrange(*it, 1);
}

}  // namespace palettize::onnx_io
