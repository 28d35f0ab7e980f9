#include "palettize/onnx_model.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <fstream>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "onnx/decode_graph.hpp"
#include "onnx/decode_record.hpp"
#include "onnx/onnx_graph.hpp"
#include "onnx/onnx_proto.hpp"
#include "onnx/onnx_tensor.hpp"
#include "palettize/container.hpp"
#include "palettize/error.hpp"
#include "palettize/output_file.hpp"
#include "text/utf8.hpp"

namespace palettize {

using onnx_io::DecodeRecord;
using onnx_io::PalettizedRecord;
using onnx_io::DecodeRegion;
using onnx_io::kOnnxRecordsKey;
using onnx_io::kOnnxVersionKey;

namespace {

constexpr int64_t kMinOpset = 7;

// Where a dense tensor lives, and the converted bytes when the model stored it in typed fields.
struct Location {
  onnx::GraphProto* graph = nullptr;
  onnx::TensorProto* initializer = nullptr;
  onnx::NodeProto* constant = nullptr;
  std::vector<std::byte> owned;
};

int64_t onnx_opset(const onnx::ModelProto& model, std::string_view label) {
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") return op.version();
  fail("ONNX model ", label, " imports no ai.onnx opset");
}

Metadata read_metadata(const onnx::ModelProto& model) {
  Metadata metadata;
  for (const auto& entry : model.metadata_props()) metadata[entry.key()] = entry.value();
  return metadata;
}

}  // namespace

struct OnnxModel::Impl {
  onnx::ModelProto model;
  std::string label;
  int64_t opset = 0;
  std::vector<OnnxTensor> tensors;
  std::vector<Location> locations;
  std::unordered_set<std::string> names;
  int64_t name_counter = 0;
  std::vector<PalettizedRecord> palettized;          // tensors stored as decode subgraphs
  // Per graph: small constants decode subgraphs share (decode_graph.hpp).
  std::map<const onnx::GraphProto*, std::map<std::string, std::string>> shared_constants;

  void init();
  void read_palettize_metadata();
  std::unordered_set<std::string> decode_initializer_names();
  void collect_dense_tensors();
  std::string reserve(const std::string& preferred);
  std::size_t dense_index(std::string_view key) const;
  const PalettizedRecord& record(std::string_view key) const;
  onnx::GraphProto& graph_holding(const std::string& initializer_name, std::string_view key);
  void write_metadata();
};

void OnnxModel::Impl::init() {
  check(model.has_graph(), "ONNX model ", label, " has no graph");
  opset = onnx_opset(model, label);
  check(opset >= kMinOpset, "ONNX model ", label, " uses opset ", opset, "; palettize needs opset ", kMinOpset,
        " or later");
  onnx_io::check_single_assignment(model, label);
  names = onnx_io::all_value_names(model);
  read_palettize_metadata();
  collect_dense_tensors();
}

void OnnxModel::Impl::read_palettize_metadata() {
  const Metadata metadata = read_metadata(model);
  const auto version = metadata.find(std::string(kOnnxVersionKey));
  const auto records = metadata.find(std::string(kOnnxRecordsKey));
  if (version == metadata.end() && records == metadata.end()) return;
  check(version != metadata.end() && version->second == "1", "ONNX model ", label, " has palettize metadata of ",
        version == metadata.end() ? std::string("no version") : "version " + version->second,
        "; this palettize reads version 1");
  check(records != metadata.end(), "ONNX model ", label, " has ", kOnnxVersionKey, " but no ", kOnnxRecordsKey,
        " metadata");
  palettized = onnx_io::records_from_metadata(records->second, label);
}

// Initializers read by decode subgraphs (LUTs and scales are float initializers, but not dense weights).
std::unordered_set<std::string> OnnxModel::Impl::decode_initializer_names() {
  std::unordered_set<std::string> result;
  for (const PalettizedRecord& r : palettized) {
    const DecodeRecord& d = r.decode;
    const DecodeRegion region = onnx_io::find_decode_region(graph_holding(d.part(kIndicesSuffix), r.entry.name), d.output);
    result.insert(region.initializers.begin(), region.initializers.end());
  }
  return result;
}

void OnnxModel::Impl::collect_dense_tensors() {
  tensors.clear();
  locations.clear();
  const std::unordered_set<std::string> excluded = decode_initializer_names();
  auto add = [&](onnx::GraphProto& graph, const std::string& path, const onnx::TensorProto& proto, std::string name,
                 onnx::TensorProto* initializer, onnx::NodeProto* constant) {
    if (!onnx_io::is_float_tensor(proto)) return;
    onnx_io::TensorData data = onnx_io::read_float_tensor(proto, name + " in " + label);
    Location& loc = locations.emplace_back(Location{&graph, initializer, constant, std::move(data.owned)});
    const std::span<const std::byte> bytes = loc.owned.empty() ? data.bytes : std::span<const std::byte>(loc.owned);
    tensors.push_back(OnnxTensor{name, name, initializer ? "initializer" : "Constant", path,
                                 TensorView{data.dtype, data.shape, bytes}});
  };
  onnx_io::for_each_graph(*model.mutable_graph(), [&](onnx::GraphProto& graph, const std::string& path) {
    std::unordered_set<std::string> inputs;
    // From IR version 4 on, an initializer that is also a graph input is only a default the caller may
    // override: not a weight. Before, every initializer had to be listed as an input.
    if (model.ir_version() >= 4)
      for (const auto& v : graph.input()) inputs.insert(v.name());
    for (onnx::TensorProto& t : *graph.mutable_initializer())
      if (!inputs.count(t.name()) && !excluded.count(t.name())) add(graph, path, t, t.name(), &t, nullptr);
    for (onnx::NodeProto& node : *graph.mutable_node())
      if (onnx::TensorProto* value = onnx_io::constant_value(node)) add(graph, path, *value, node.output(0), nullptr, &node);
  });
  std::unordered_map<std::string, int> counts;
  for (const OnnxTensor& t : tensors) ++counts[t.name];
  for (OnnxTensor& t : tensors)
    if (counts[t.name] > 1) t.key = t.name + "@" + t.graph_path;
  // Keys name tensors everywhere (reports, replace_with_palettized): a name defined twice in one graph (ONNX
  // names are single-assignment) or a name that spells another tensor's "name@path" key would make two
  // tensors share one.
  std::unordered_set<std::string> keys;
  for (const OnnxTensor& t : tensors)
    check(keys.insert(t.key).second, "ONNX model ", label, ": tensor '", t.name, "' is defined more than once in ",
          t.graph_path, " (or its name repeats another tensor's name@graph key); ONNX names are single-assignment");
}

std::string OnnxModel::Impl::reserve(const std::string& preferred) {
  if (!preferred.empty() && names.insert(preferred).second) return preferred;
  for (;;) {
    std::string name = "pz" + std::to_string(name_counter++);
    if (names.insert(name).second) return name;
  }
}

std::size_t OnnxModel::Impl::dense_index(std::string_view key) const {
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].key == key) return i;
  for (const PalettizedRecord& r : palettized)
    check(r.entry.name != key, "ONNX tensor ", key, " in ", label, " is already palettized");
  fail("ONNX model ", label, " has no dense float tensor ", key);
}

const PalettizedRecord& OnnxModel::Impl::record(std::string_view key) const {
  for (const PalettizedRecord& r : palettized)
    if (r.entry.name == key) return r;
  fail("ONNX model ", label, " has no palettized tensor ", key);
}

onnx::GraphProto& OnnxModel::Impl::graph_holding(const std::string& initializer_name, std::string_view key) {
  onnx::GraphProto* found = nullptr;
  onnx_io::for_each_graph(*model.mutable_graph(), [&](onnx::GraphProto& graph, const std::string&) {
    if (!found && onnx_io::find_initializer(graph, initializer_name)) found = &graph;
  });
  check(found != nullptr, "ONNX model ", label, ": initializer ", initializer_name, " of palettized tensor ", key,
        " is missing");
  return *found;
}

void OnnxModel::Impl::write_metadata() {
  auto* props = model.mutable_metadata_props();
  for (int i = props->size() - 1; i >= 0; --i)
    if (props->Get(i).key().rfind("palettize.", 0) == 0) props->DeleteSubrange(i, 1);
  if (palettized.empty()) return;
  const Metadata added{{std::string(kOnnxVersionKey), "1"},
                       {std::string(kOnnxRecordsKey), onnx_io::records_to_metadata(palettized)}};
  for (const auto& [key, value] : added) {
    onnx::StringStringEntryProto* p = props->Add();
    p->set_key(key);
    p->set_value(value);
  }
}

OnnxModel::OnnxModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxModel::OnnxModel(OnnxModel&&) noexcept = default;
OnnxModel& OnnxModel::operator=(OnnxModel&&) noexcept = default;
OnnxModel::~OnnxModel() = default;

OnnxModel OnnxModel::from_bytes(std::span<const std::byte> bytes, std::string_view source_label) {
  auto impl = std::make_unique<Impl>();
  impl->label = std::string(source_label);
  check(bytes.size() <= static_cast<std::size_t>(INT_MAX), "ONNX model ", source_label,
        " is larger than the 2 GiB protobuf limit");
  check(impl->model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())), "cannot parse ONNX model ",
        source_label, ": not a valid ONNX ModelProto (truncated or not an ONNX file?)");
  impl->init();
  return OnnxModel(std::move(impl));
}

OnnxModel OnnxModel::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), "cannot open ONNX model ", path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  check(!in.bad(), "cannot read ONNX model ", path.string());
  return from_bytes(std::as_bytes(std::span<const char>(bytes)), path.string());
}

const std::vector<OnnxTensor>& OnnxModel::palettizable_tensors() const { return impl_->tensors; }

const OnnxTensor* OnnxModel::find(std::string_view key) const {
  for (const OnnxTensor& t : impl_->tensors)
    if (t.key == key) return &t;
  return nullptr;
}

void OnnxModel::replace_with_palettized(std::string_view key, const PalettizedTensor& palettized) {
  Impl& m = *impl_;
  const std::size_t index = m.dense_index(key);
  const OnnxTensor tensor = m.tensors[index];
  check(palettized.dtype == tensor.view.dtype && palettized.shape == tensor.view.shape, "palettized tensor for ",
        key, " is ", dtype_name(palettized.dtype), " ", shape_to_string(palettized.shape), " but the model holds ",
        dtype_name(tensor.view.dtype), " ", shape_to_string(tensor.view.shape));
  // The names go into the palettize metadata, which is JSON and so only holds UTF-8; ONNX does not enforce it.
  const onnx::NodeProto* constant = m.locations[index].constant;
  check(utf8::is_valid(tensor.key) && (constant == nullptr || utf8::is_valid(constant->name())), "ONNX model ",
        m.label, ": tensor ", index + 1, " of ", m.tensors.size(),
        " cannot be palettized: its name, graph path or Constant node name is not valid UTF-8");
  ContainerEntry entry = make_container_entry(tensor.key, tensor.view.dtype, tensor.view.shape, palettized.spec);
  const std::vector<NamedTensor> parts = encode_palettized(entry, palettized);
  Location& loc = m.locations[index];
  onnx::GraphProto& graph = *loc.graph;
  const onnx_io::GraphContext context{m.opset, [&m](const std::string& preferred) { return m.reserve(preferred); },
                                      &m.shared_constants[&graph]};
  onnx_io::DecodeSubgraph sub = onnx_io::build_decode_subgraph(entry, parts, tensor.name, context);

  DecodeRecord record{tensor.name, tensor.kind, "", sub.part_names};
  if (loc.constant) {
    const int position = onnx_io::index_of_node(graph, loc.constant);
    check(position >= 0, "internal: Constant node of ", key, " not found");
    record.node_name = loc.constant->name();
    graph.mutable_node()->DeleteSubrange(position, 1);
    onnx_io::insert_nodes(graph, position, std::move(sub.nodes));
  } else {
    check(onnx_io::remove_initializer(graph, loc.initializer), "internal: initializer of ", key, " not found");
    onnx_io::insert_nodes(graph, 0, std::move(sub.nodes));
    if (m.model.ir_version() < 4) {
      // A computed value cannot be a graph input; IR 4 lets the other initializers stay off the inputs too.
      onnx_io::remove_graph_input(graph, tensor.name);
      m.model.set_ir_version(4);
    }
  }
  for (onnx::TensorProto& t : sub.initializers) *graph.add_initializer() = std::move(t);

  m.tensors.erase(m.tensors.begin() + static_cast<std::ptrdiff_t>(index));
  m.locations.erase(m.locations.begin() + static_cast<std::ptrdiff_t>(index));
  m.palettized.push_back(PalettizedRecord{std::move(entry), std::move(record)});
  m.write_metadata();
}

std::vector<std::string> OnnxModel::palettized_keys() const {
  std::vector<std::string> keys;
  for (const PalettizedRecord& r : impl_->palettized) keys.push_back(r.entry.name);
  return keys;
}

PalettizedTensor OnnxModel::palettized_tensor(std::string_view key) const {
  Impl& m = *impl_;
  const ContainerEntry& entry = m.record(key).entry;
  const DecodeRecord& record = m.record(key).decode;
  std::map<std::string, TensorDecl> declared;
  for (const TensorDecl& decl : container_parts(entry)) declared.emplace(decl.name, decl);

  const TensorLookup lookup = [&](const std::string& part_name) -> std::optional<TensorView> {
    const std::string suffix = part_name.substr(entry.name.size());
    if (!declared.count(part_name)) return std::nullopt;
    const std::string stored = record.part(suffix);
    const onnx::TensorProto* proto = onnx_io::find_initializer(m.graph_holding(stored, key), stored);
    check(proto->has_raw_data(), "ONNX model ", m.label, ": ", stored, " (", part_name, ") has no raw_data");
    const TensorDecl& decl = declared.at(part_name);
    const std::size_t size = decl.byte_size();
    // The index stream is stored padded to whole packing periods; every other part has its exact size.
    const bool padded = suffix == kIndicesSuffix;
    check(padded ? proto->raw_data().size() >= size : proto->raw_data().size() == size, "ONNX model ", m.label, ": ",
          stored, " (", part_name, ") has ", proto->raw_data().size(), " bytes, expected ", size);
    return TensorView{decl.dtype, decl.shape, std::as_bytes(std::span<const char>(proto->raw_data().data(), size))};
  };
  return load_palettized(entry, lookup, m.label);
}

void OnnxModel::decompress() {
  Impl& m = *impl_;
  for (const PalettizedRecord& r : m.palettized) {
    const DecodeRecord& record = r.decode;
    const Tensor dense = decode(palettized_tensor(r.entry.name));
    onnx::GraphProto& graph = m.graph_holding(record.part(kIndicesSuffix), r.entry.name);
    const DecodeRegion region = onnx_io::find_decode_region(graph, record.output);
    onnx_io::remove_nodes(graph, region.nodes);
    // Constants shared with other decode subgraphs stay until the last one is gone.
    const std::unordered_set<std::string> still_read = onnx_io::names_read(graph);
    for (const std::string& name : region.initializers)
      if (!still_read.count(name)) onnx_io::remove_initializer(graph, onnx_io::find_initializer(graph, name));
    onnx::TensorProto tensor =
        onnx_io::make_tensor(record.output, onnx_io::onnx_type_of(dense.dtype), dense.shape, dense.data);
    if (record.kind == "Constant") {
      onnx::NodeProto node;
      node.set_op_type("Constant");
      node.set_name(record.node_name);
      node.add_output(record.output);
      onnx::AttributeProto* value = node.add_attribute();
      value->set_name("value");
      value->set_type(onnx::AttributeProto::TENSOR);
      *value->mutable_t() = std::move(tensor);
      std::vector<onnx::NodeProto> nodes;
      nodes.push_back(std::move(node));
      onnx_io::insert_nodes(graph, region.nodes.front(), std::move(nodes));
    } else {
      *graph.add_initializer() = std::move(tensor);
    }
  }
  m.palettized.clear();
  m.shared_constants.clear();
  m.write_metadata();
  m.collect_dense_tensors();
}

int64_t OnnxModel::opset() const { return impl_->opset; }

std::vector<TensorConsumer> OnnxModel::consumers(std::string_view key) const {
  const std::size_t index = impl_->dense_index(key);
  const std::string& name = impl_->tensors[index].name;
  std::vector<TensorConsumer> found;
  for (const onnx::NodeProto& node : impl_->locations[index].graph->node()) {
    for (int i = 0; i < node.input_size(); ++i) {
      if (node.input(i) != name) continue;
      TensorConsumer& consumer = found.emplace_back();
      consumer.op_type = node.op_type();
      consumer.domain = node.domain();
      consumer.input_index = i;
      consumer.inputs.assign(node.input().begin(), node.input().end());
      for (const onnx::AttributeProto& attribute : node.attribute()) {
        if (attribute.type() == onnx::AttributeProto::INT) consumer.int_attributes[attribute.name()] = attribute.i();
      }
    }
  }
  return found;
}

bool OnnxModel::is_main_graph_value(std::string_view value) const {
  const onnx::GraphProto& graph = impl_->model.graph();
  const auto named = [&](const auto& items) {
    return std::any_of(items.begin(), items.end(), [&](const auto& item) { return item.name() == value; });
  };
  if (named(graph.input()) || named(graph.initializer())) return true;
  return std::any_of(graph.node().begin(), graph.node().end(), [&](const onnx::NodeProto& node) {
    return std::find(node.output().begin(), node.output().end(), value) != node.output().end();
  });
}

void OnnxModel::add_main_output(std::string_view value, DType dtype) {
  check(is_main_graph_value(value), "ONNX model ", impl_->label, ": the main graph has no value '", value, "'");
  onnx::GraphProto& graph = *impl_->model.mutable_graph();
  for (const onnx::ValueInfoProto& output : graph.output()) {
    if (output.name() == value) return;
  }
  onnx::ValueInfoProto& output = *graph.add_output();
  output.set_name(std::string(value));
  output.mutable_type()->mutable_tensor_type()->set_elem_type(onnx_io::onnx_type_of(dtype));
}

std::string OnnxModel::serialize() const {
  check(impl_->model.ByteSizeLong() <= static_cast<std::size_t>(INT_MAX), "ONNX model ", impl_->label,
        " would exceed the 2 GiB protobuf limit");
  std::string bytes;
  check(impl_->model.SerializeToString(&bytes), "cannot serialize ONNX model ", impl_->label);
  return bytes;
}

void OnnxModel::save(const std::filesystem::path& path, bool force) const {
  const std::string bytes = serialize();
  OutputFile file(path, force);
  file.write(std::string_view(bytes));
  file.commit();
}

bool is_onnx_path(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".onnx";
}

}  // namespace palettize
