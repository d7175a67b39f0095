#include "http/assets.hpp"

#include <string>

namespace moth::http {

const EmbeddedAsset* find_embedded(std::string_view path) noexcept {
    std::string wanted(path);
    if (wanted.empty() || wanted.back() == '/') wanted += "index.html";
    for (const auto& a : embedded_assets()) {
        if (a.path == wanted) return &a;
    }
    // A directory named without its trailing slash ("/docs" for "/docs/index.html").
    wanted += "/index.html";
    for (const auto& a : embedded_assets()) {
        if (a.path == wanted) return &a;
    }
    return nullptr;
}

}  // namespace moth::http
