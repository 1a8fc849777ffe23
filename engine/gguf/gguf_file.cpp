#include "engine/gguf/gguf_file.hpp"

#include "engine/gguf/gguf_reader.hpp"
#include "engine/gguf/mapped_file.hpp"

namespace ckv {

GgufFile::GgufFile() = default;
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

GgufFile GgufFile::open(const std::filesystem::path& path) {
  std::unique_ptr<MappedFile> map;
  try {
    map = std::make_unique<MappedFile>(path);
  } catch (const std::runtime_error& e) {
    throw GgufError(e.what());
  }
  const auto bytes = map->bytes();
  GgufFile file = parse_memory(bytes, path.string());
  file.map_ = std::move(map);  // the spans in `file` point into this mapping, which a move does not relocate
  return file;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> GgufFile::tensor_data(const GgufTensorInfo& tensor) const {
  const uint64_t size = bytes_.size();
  if (tensor.file_offset > size || tensor.byte_size > size - tensor.file_offset)
    fail("tensor " + quote_name(tensor.name) + " (" + std::to_string(tensor.byte_size) + " bytes at byte " +
         std::to_string(tensor.file_offset) + ") is not inside this file of " + std::to_string(size) + " bytes");
  return bytes_.subspan(tensor.file_offset, tensor.byte_size);
}

void GgufFile::fail(const std::string& what) const { throw GgufError(name_ + ": " + what); }

std::string GgufTensorInfo::shape_text() const {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

void require_supported(const GgufTensorInfo& tensor) {
  const GgmlTypeTraits* traits = find_ggml_type(static_cast<uint32_t>(tensor.type));
  if (traits && traits->engine_supported) return;
  const std::string type = traits ? std::string(traits->name)
                                  : "id " + std::to_string(static_cast<uint32_t>(tensor.type));
  throw GgufError("tensor " + quote_name(tensor.name) + " has type " + type +
                  ", which this engine does not support (supported: " + engine_supported_type_names() + ")");
}

}  // namespace ckv
