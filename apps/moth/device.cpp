#include "device.hpp"

#include <dlfcn.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "Arduino.h"
#include "arduino/device.hpp"
#include "arduino/runner.hpp"

extern char** environ;

namespace moth::cli {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kUsage =
    "Usage: moth device SKETCH.ino [options]\n"
    "\n"
    "Builds the Arduino sketch against Moth's virtual ESP32 (Arduino core, WiFi, PubSubClient, EspMQTTClient, DHT)\n"
    "and runs it; the serial monitor is standard output. Ctrl-C or SIGTERM cuts the power (the broker publishes\n"
    "the will).\n"
    "\n"
    "Build options:\n"
    "  --rebuild                build even if the cache has this sketch\n"
    "  --build-only             build (or find in the cache), print the shared object's path, and exit\n"
    "  --cxx COMPILER           C++ compiler (default: $CXX, else g++)\n"
    "  -v, --verbose            print the compiler command\n"
    "\n";

// Bumped when the layer's ABI between sketch and host changes in a way the header hash would not show.
constexpr std::string_view kLayerAbi = "moth-arduino-1";

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const fs::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string hex(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

fs::path self_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path(".") : exe.parent_path();
}

// The sketch headers: $MOTH_ARDUINO_INCLUDE, else <prefix>/include/moth/arduino next to an installed moth,
// else the source tree this moth was built from.
fs::path layer_include_dir() {
    if (const char* env = std::getenv("MOTH_ARDUINO_INCLUDE"); env != nullptr && *env != '\0') return env;
    const fs::path installed = self_dir().parent_path() / "include" / "moth" / "arduino";
    if (fs::exists(installed / "Arduino.h")) return installed;
    return MOTH_ARDUINO_INCLUDE_DIR;
}

fs::path cache_root() {
    if (const char* env = std::getenv("MOTH_DEVICE_CACHE"); env != nullptr && *env != '\0') return env;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
        return fs::path(xdg) / "moth" / "device";
    }
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        return fs::path(home) / ".cache" / "moth" / "device";
    }
    return fs::temp_directory_path() / "moth-device-cache";
}

bool is_source(const fs::path& p) {
    const auto ext = p.extension().string();
    return ext == ".ino" || ext == ".h" || ext == ".hpp" || ext == ".cpp" || ext == ".c" || ext == ".cc";
}

std::vector<fs::path> sorted_files(const fs::path& dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_regular_file() && is_source(entry.path())) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

int spawn_and_wait(const std::vector<std::string>& argv) {
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    pid_t pid = 0;
    if (posix_spawnp(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ) != 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct BuildOptions {
    bool rebuild = false;
    bool build_only = false;
    bool verbose = false;
    std::string cxx;
};

const std::vector<std::string>& compile_flags() {
    static const std::vector<std::string> flags = {"-std=gnu++17", "-fPIC", "-shared", "-O1", "-g",
                                                   "-Wl,-Bsymbolic", "-Wl,-z,now"};
    return flags;
}

// Builds (or finds) the sketch's shared object; returns its path.
fs::path build_sketch(const fs::path& sketch, const BuildOptions& bo) {
    const fs::path include = layer_include_dir();
    if (!fs::exists(include / "Arduino.h")) {
        throw std::runtime_error("the Arduino headers are not in " + include.string() +
                                 " (set MOTH_ARDUINO_INCLUDE to the directory holding Arduino.h)");
    }
    const fs::path dir = sketch.parent_path();
    std::uint64_t h = fnv1a(kLayerAbi);
    h = fnv1a(bo.cxx, h);
    for (const auto& f : compile_flags()) h = fnv1a(f, h);
    h = fnv1a(sketch.filename().string(), h);
    for (const auto& f : sorted_files(include)) {
        h = fnv1a(f.filename().string(), h);
        h = fnv1a(read_file(f), h);
    }
    for (const auto& f : sorted_files(dir)) {
        h = fnv1a(f.filename().string(), h);
        h = fnv1a(read_file(f), h);
    }
    const fs::path root = cache_root();
    const fs::path out_dir = root / hex(h);
    const fs::path so = out_dir / "sketch.so";
    if (!bo.rebuild && fs::exists(so)) return so;

    fs::create_directories(root);
    const fs::path work = root / (hex(h) + ".tmp-" + std::to_string(::getpid()));
    fs::remove_all(work);
    fs::create_directories(work);
    const std::string text = read_file(sketch);
    write_file(work / "sketch.cpp", "#include <Arduino.h>\n" + preprocess_sketch(text, fs::absolute(sketch).string()));
    write_file(work / "moth_entry.cpp",
               "// Entry points of a sketch built by `moth device`.\n"
               "#include <Arduino.h>\n"
               "__attribute__((weak)) void onConnectionEstablished() {}\n"
               "extern \"C\" {\n"
               "const char* moth_sketch_abi() { return \"" + std::string(kLayerAbi) + "\"; }\n"
               "void moth_sketch_setup() { setup(); }\n"
               "void moth_sketch_loop() { loop(); }\n"
               "void moth_sketch_on_connection_established() { onConnectionEstablished(); }\n"
               "}\n");
    std::vector<std::string> cmd = {bo.cxx};
    for (const auto& f : compile_flags()) cmd.push_back(f);
    cmd.push_back("-I" + include.string());
    cmd.push_back("-I" + fs::absolute(dir).string());
    cmd.push_back("-o");
    cmd.push_back((work / "sketch.so").string());
    cmd.push_back((work / "sketch.cpp").string());
    cmd.push_back((work / "moth_entry.cpp").string());
    for (const auto& f : sorted_files(dir)) {
        const auto ext = f.extension().string();
        if (ext == ".cpp" || ext == ".cc" || ext == ".c") cmd.push_back(fs::absolute(f).string());
    }
    if (bo.verbose) {
        std::string line;
        for (const auto& a : cmd) line += (line.empty() ? "" : " ") + a;
        std::fprintf(stderr, "[moth] %s\n", line.c_str());
    }
    std::fprintf(stderr, "[moth] building %s ...\n", sketch.string().c_str());
    const int rc = spawn_and_wait(cmd);
    if (rc != 0) {
        fs::remove_all(work);
        throw std::runtime_error(rc < 0 ? "cannot run the compiler '" + bo.cxx + "'"
                                        : "the sketch did not compile (" + bo.cxx + " exit code " + std::to_string(rc) + ")");
    }
    std::error_code ec;
    fs::remove_all(out_dir, ec);
    fs::rename(work, out_dir, ec);
    if (ec) {  // another moth built it at the same time: use theirs
        fs::remove_all(work);
        if (!fs::exists(so)) throw std::runtime_error("cannot store the build in " + out_dir.string());
    }
    return so;
}

moth::arduino::SketchEntry entry_points(void* handle, const std::string& what) {
    const auto sym = [&](const char* name) {
        void* p = dlsym(handle, name);
        if (p == nullptr) throw std::runtime_error(what + ": no symbol " + name);
        return p;
    };
    const auto abi = reinterpret_cast<const char* (*)()>(sym("moth_sketch_abi"));
    if (std::string_view(abi()) != kLayerAbi) throw std::runtime_error(what + " was built for another moth");
    moth::arduino::SketchEntry e;
    e.setup = reinterpret_cast<void (*)()>(sym("moth_sketch_setup"));
    e.loop = reinterpret_cast<void (*)()>(sym("moth_sketch_loop"));
    e.on_connection_established = reinterpret_cast<void (*)()>(sym("moth_sketch_on_connection_established"));
    return e;
}

}  // namespace

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
            const bool brace_next = i + 1 < lines.size() && lines[i + 1].find_first_not_of(" \t") != std::string::npos &&
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

int run_device(const std::vector<std::string>& args) {
    BuildOptions bo;
    if (const char* cxx = std::getenv("CXX"); cxx != nullptr && *cxx != '\0') bo.cxx = cxx;
    if (bo.cxx.empty()) bo.cxx = "g++";
    std::vector<std::string> rest;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            std::printf("%s%s", kUsage.data(), moth::arduino::device_options_help().c_str());
            return 0;
        }
        if (a == "--rebuild") {
            bo.rebuild = true;
        } else if (a == "--build-only") {
            bo.build_only = true;
        } else if (a == "-v" || a == "--verbose") {
            bo.verbose = true;
        } else if (a == "--cxx") {
            if (i + 1 >= args.size()) {
                std::fprintf(stderr, "moth device: --cxx needs a value\n");
                return 1;
            }
            bo.cxx = args[++i];
        } else {
            rest.push_back(a);
        }
    }
    moth::arduino::DeviceOptions options;
    std::vector<std::string> positional;
    if (auto err = moth::arduino::parse_device_options(rest, options, positional); !err.empty()) {
        std::fprintf(stderr, "moth device: %s\n\n%s%s", err.c_str(), kUsage.data(),
                     moth::arduino::device_options_help().c_str());
        return 1;
    }
    if (positional.size() != 1) {
        std::fprintf(stderr, "moth device: %s\n\n%s", positional.empty() ? "no sketch given" : "one sketch only",
                     kUsage.data());
        return 1;
    }
    fs::path sketch = positional.front();
    if (fs::is_directory(sketch)) sketch /= sketch.filename().string() + ".ino";  // Arduino's folder layout
    if (!fs::is_regular_file(sketch)) {
        std::fprintf(stderr, "moth device: no sketch file %s\n", sketch.string().c_str());
        return 1;
    }

    fs::path so;
    try {
        so = build_sketch(sketch, bo);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moth device: %s\n", e.what());
        return 1;
    }
    if (bo.build_only) {
        std::printf("%s\n", so.string().c_str());
        return 0;
    }

    // One copy of the shared object per device, so that each has its own global variables: glibc loads a file
    // (same device and inode) once, so every device gets a copy with its own name, unlinked once loaded.
    fs::path copies;
    if (options.count > 1) {
        char tmpl[] = "/tmp/moth-device-XXXXXX";
        if (const char* dir = mkdtemp(tmpl); dir != nullptr) {
            copies = dir;
        } else {
            std::fprintf(stderr, "moth device: cannot create a temporary directory\n");
            return 1;
        }
    }
    const std::string image = options.count > 1 ? read_file(so) : std::string();
    const auto load = [&](unsigned index) {
        fs::path path = so;
        if (options.count > 1) {
            path = copies / ("sketch-" + std::to_string(index + 1) + ".so");
            write_file(path, image);
        }
        void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (options.count > 1) {
            std::error_code ec;
            fs::remove(path, ec);
            if (index + 1 == options.count) fs::remove(copies, ec);
        }
        if (handle == nullptr) throw std::runtime_error(std::string("cannot load the sketch: ") + dlerror());
        return entry_points(handle, sketch.string());
    };
    const int rc = moth::arduino::run_devices(options, load);
    if (!copies.empty()) {
        std::error_code ec;
        fs::remove_all(copies, ec);
    }
    return rc;
}

}  // namespace moth::cli
