#include "auth/grants_json.hpp"

#include <nlohmann/json.hpp>

#include "codec/topic.hpp"

namespace moth::auth {

namespace {

bool read_filters(const nlohmann::json& rules, const char* key, std::vector<std::string>& out, std::string& error) {
    const auto it = rules.find(key);
    if (it == rules.end()) return true;
    if (!it->is_array()) {
        error = std::string(key) + ": not an array of topic filters";
        return false;
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
        const auto& f = (*it)[i];
        const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
        if (!f.is_string()) {
            error = where + ": not a string";
            return false;
        }
        const auto& filter = f.get_ref<const std::string&>();
        if (codec::validate_topic_filter(filter) != codec::TopicError::None || codec::parse_shared_filter(filter)) {
            error = where + ": not a valid topic filter: " + filter;
            return false;
        }
        out.push_back(filter);
    }
    return true;
}

}  // namespace

std::optional<Grants> grants_from_json(const nlohmann::json& rules, std::string& error) {
    if (!rules.is_object()) {
        error = "not an object with pub, sub and all arrays";
        return std::nullopt;
    }
    for (const auto& [key, value] : rules.items()) {
        if (key != "pub" && key != "sub" && key != "all") {
            error = "unknown key " + key + " (pub, sub, all)";
            return std::nullopt;
        }
    }
    Grants g;
    if (!read_filters(rules, "pub", g.publish, error) || !read_filters(rules, "sub", g.subscribe, error) ||
        !read_filters(rules, "all", g.all, error)) {
        return std::nullopt;
    }
    return g;
}

}  // namespace moth::auth
