#include "sketch.hpp"

#include <algorithm>
#include <regex>
#include <vector>

namespace moth::cli {

std::uint64_t fnv1a(std::string_view data, std::uint64_t h) {
    for (const char c : data) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h;
}

std::string preprocess_sketch(std::string_view text, const std::string& path) {
    // Find top-level function definitions: a line at brace depth 0 that looks like "type name(params) {" (or the
    // brace on the next line). Comments, strings and preprocessor lines are skipped when counting braces.
    std::vector<std::string> lines;
    {
        std::string cur;
        for (const char c : text) {
            if (c == '\n') {
                lines.push_back(cur);
                cur.clear();
            } else {
                cur.push_back(c);
            }
        }
        lines.push_back(cur);
    }
    static const std::regex def(
        R"(^\s*((?:static\s+|inline\s+)*[A-Za-z_][\w:<>,]*(?:\s*[*&]+\s*|\s+)(?:[*&]\s*)*)([A-Za-z_]\w*)\s*\(([^()]*)\)\s*(\{.*)?$)");
    static const std::regex keyword(R"(^(if|for|while|switch|return|else|do|case|sizeof|catch)$)");
    std::vector<std::string> prototypes;
    std::size_t first_def = lines.size();
    int depth = 0;
    bool in_block_comment = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string& line = lines[i];
        if (depth == 0 && !in_block_comment) {
            std::smatch m;
            const bool brace_next = i + 1 < lines.size() &&
                                    lines[i + 1].find_first_not_of(" \t") != std::string::npos &&
                                    lines[i + 1][lines[i + 1].find_first_not_of(" \t")] == '{';
            if (std::regex_match(line, m, def) && (m[4].matched || brace_next)) {
                const std::string ret = m[1].str();
                const std::string name = m[2].str();
                const std::string params = m[3].str();
                const bool is_keyword = std::regex_match(name, keyword) || ret.find("return") != std::string::npos;
                if (!is_keyword && ret.find('=') == std::string::npos) {
                    if (first_def == lines.size()) first_def = i;
                    if (name != "setup" && name != "loop" && params.find('=') == std::string::npos) {
                        prototypes.push_back(ret + name + "(" + params + ");");
                    }
                }
            }
        }
        // Brace depth, outside comments, strings and character literals.
        bool in_string = false;
        char quote = 0;
        const std::size_t start = line.find_first_not_of(" \t");
        if (!in_block_comment && start != std::string::npos && line[start] == '#') continue;
        for (std::size_t j = 0; j < line.size(); ++j) {
            const char c = line[j];
            if (in_block_comment) {
                if (c == '*' && j + 1 < line.size() && line[j + 1] == '/') {
                    in_block_comment = false;
                    ++j;
                }
                continue;
            }
            if (in_string) {
                if (c == '\\') {
                    ++j;
                } else if (c == quote) {
                    in_string = false;
                }
                continue;
            }
            if (c == '/' && j + 1 < line.size() && line[j + 1] == '/') break;
            if (c == '/' && j + 1 < line.size() && line[j + 1] == '*') {
                in_block_comment = true;
                ++j;
            } else if (c == '"' || c == '\'') {
                in_string = true;
                quote = c;
            } else if (c == '{') {
                ++depth;
            } else if (c == '}') {
                depth = std::max(0, depth - 1);
            }
        }
    }
    std::string out;
    out += "#line 1 \"" + path + "\"\n";
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i == first_def && !prototypes.empty()) {
            for (const auto& p : prototypes) out += p + "\n";
            out += "#line " + std::to_string(i + 1) + " \"" + path + "\"\n";
        }
        out += lines[i];
        if (i + 1 < lines.size()) out += "\n";
    }
    out += "\n";
    return out;
}

}  // namespace moth::cli
