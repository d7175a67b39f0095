// Arduino's String on top of std::string.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "WString.h"

namespace {

std::string to_base(unsigned long long n, unsigned base) {
    if (base < 2 || base > 36) base = 10;
    std::string s;
    do {
        const auto d = static_cast<char>(n % base);
        s.insert(s.begin(), static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10));
        n /= base;
    } while (n != 0);
    return s;
}

std::string signed_to_base(long long n, unsigned base) {
    if (base == 10 && n < 0) return "-" + to_base(0ULL - static_cast<unsigned long long>(n), 10);
    // Arduino's ltoa in other bases shows the bits of the 32-bit value; a long is 64 bits here.
    return to_base(static_cast<unsigned long long>(n), base);
}

// Arduino's dtostrf as String(float) uses it: fixed notation, `places` decimals.
std::string fixed(double v, unsigned places) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min(places, 30u)), v);
    if (n < 0) return {};
    if (static_cast<size_t>(n) < sizeof buf) return buf;
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(big.data(), big.size(), "%.*f", static_cast<int>(std::min(places, 30u)), v);
    big.resize(static_cast<size_t>(n));
    return big;
}

}  // namespace

String::String(unsigned char value, unsigned char base) : s_(to_base(value, base)) {}
String::String(int value, unsigned char base) : s_(signed_to_base(value, base)) {}
String::String(unsigned int value, unsigned char base) : s_(to_base(value, base)) {}
String::String(long value, unsigned char base) : s_(signed_to_base(value, base)) {}
String::String(unsigned long value, unsigned char base) : s_(to_base(value, base)) {}
String::String(long long value, unsigned char base) : s_(signed_to_base(value, base)) {}
String::String(unsigned long long value, unsigned char base) : s_(to_base(value, base)) {}
String::String(float value, unsigned int decimal_places) : s_(fixed(value, decimal_places)) {}
String::String(double value, unsigned int decimal_places) : s_(fixed(value, decimal_places)) {}

unsigned char String::reserve(unsigned int size) {
    s_.reserve(size);
    return 1;
}

bool String::concat(const String& str) {
    s_ += str.s_;
    return true;
}
bool String::concat(const char* cstr) {
    if (cstr == nullptr) return false;
    s_ += cstr;
    return true;
}
bool String::concat(const char* cstr, unsigned int length) {
    if (cstr == nullptr) return false;
    s_.append(cstr, length);
    return true;
}
bool String::concat(char c) {
    s_.push_back(c);
    return true;
}
bool String::concat(unsigned char num) { return concat(String(num)); }
bool String::concat(int num) { return concat(String(num)); }
bool String::concat(unsigned int num) { return concat(String(num)); }
bool String::concat(long num) { return concat(String(num)); }
bool String::concat(unsigned long num) { return concat(String(num)); }
bool String::concat(long long num) { return concat(String(num)); }
bool String::concat(unsigned long long num) { return concat(String(num)); }
bool String::concat(float num) { return concat(String(num)); }
bool String::concat(double num) { return concat(String(num)); }

int String::compareTo(const String& s) const {
    const int c = std::strcmp(s_.c_str(), s.s_.c_str());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

bool String::equalsIgnoreCase(const String& s) const {
    if (s_.size() != s.s_.size()) return false;
    for (size_t i = 0; i < s_.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s_[i])) != std::tolower(static_cast<unsigned char>(s.s_[i]))) {
            return false;
        }
    }
    return true;
}

bool String::equalsConstantTime(const String& s) const {
    if (s_.size() != s.s_.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < s_.size(); ++i) diff |= static_cast<unsigned char>(s_[i] ^ s.s_[i]);
    return diff == 0;
}

bool String::startsWith(const String& prefix) const { return startsWith(prefix, 0); }

bool String::startsWith(const String& prefix, unsigned int offset) const {
    if (offset > s_.size() || prefix.s_.size() > s_.size() - offset) return false;
    return s_.compare(offset, prefix.s_.size(), prefix.s_) == 0;
}

bool String::endsWith(const String& suffix) const {
    if (suffix.s_.size() > s_.size()) return false;
    return s_.compare(s_.size() - suffix.s_.size(), suffix.s_.size(), suffix.s_) == 0;
}

char String::charAt(unsigned int index) const { return index < s_.size() ? s_[index] : '\0'; }

void String::setCharAt(unsigned int index, char c) {
    if (index < s_.size()) s_[index] = c;
}

char String::operator[](unsigned int index) const { return charAt(index); }

char& String::operator[](unsigned int index) {
    static thread_local char dummy;
    if (index >= s_.size()) {
        dummy = '\0';
        return dummy;
    }
    return s_[index];
}

void String::getBytes(unsigned char* buf, unsigned int bufsize, unsigned int index) const {
    if (bufsize == 0 || buf == nullptr) return;
    if (index >= s_.size()) {
        buf[0] = 0;
        return;
    }
    const size_t n = std::min<size_t>(bufsize - 1, s_.size() - index);
    std::memcpy(buf, s_.data() + index, n);
    buf[n] = 0;
}

int String::indexOf(char ch, unsigned int from_index) const {
    if (from_index >= s_.size()) return -1;
    const auto pos = s_.find(ch, from_index);
    return pos == std::string::npos ? -1 : static_cast<int>(pos);
}

int String::indexOf(const String& str, unsigned int from_index) const {
    if (from_index >= s_.size()) return -1;
    const auto pos = s_.find(str.s_, from_index);
    return pos == std::string::npos ? -1 : static_cast<int>(pos);
}

int String::lastIndexOf(char ch) const { return s_.empty() ? -1 : lastIndexOf(ch, length() - 1); }

int String::lastIndexOf(char ch, unsigned int from_index) const {
    if (from_index >= s_.size()) return -1;
    const auto pos = s_.rfind(ch, from_index);
    return pos == std::string::npos ? -1 : static_cast<int>(pos);
}

int String::lastIndexOf(const String& str) const {
    if (str.s_.size() > s_.size()) return -1;
    return lastIndexOf(str, length() - str.length());
}

int String::lastIndexOf(const String& str, unsigned int from_index) const {
    if (str.s_.empty() || str.s_.size() > s_.size() || from_index >= s_.size()) return -1;
    const auto pos = s_.rfind(str.s_, from_index);
    return pos == std::string::npos ? -1 : static_cast<int>(pos);
}

String String::substring(unsigned int begin_index, unsigned int end_index) const {
    if (begin_index > end_index) std::swap(begin_index, end_index);
    if (begin_index >= s_.size()) return String();
    if (end_index > s_.size()) end_index = length();
    return String(s_.substr(begin_index, end_index - begin_index));
}

void String::replace(char find, char replace) {
    for (char& c : s_) {
        if (c == find) c = replace;
    }
}

void String::replace(const String& find, const String& replace) {
    if (find.s_.empty()) return;
    std::string out;
    size_t pos = 0;
    for (size_t hit = s_.find(find.s_); hit != std::string::npos; hit = s_.find(find.s_, pos)) {
        out.append(s_, pos, hit - pos);
        out += replace.s_;
        pos = hit + find.s_.size();
    }
    out.append(s_, pos, std::string::npos);
    s_ = std::move(out);
}

void String::remove(unsigned int index) { remove(index, static_cast<unsigned int>(-1)); }

void String::remove(unsigned int index, unsigned int count) {
    if (index >= s_.size()) return;
    s_.erase(index, std::min<size_t>(count, s_.size() - index));
}

void String::toLowerCase() {
    for (char& c : s_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

void String::toUpperCase() {
    for (char& c : s_) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
}

void String::trim() {
    const auto not_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) == 0; };
    const auto first = std::find_if(s_.begin(), s_.end(), not_space);
    const auto last = std::find_if(s_.rbegin(), s_.rend(), not_space).base();
    s_ = first < last ? std::string(first, last) : std::string();
}

long String::toInt() const { return std::strtol(s_.c_str(), nullptr, 10); }
float String::toFloat() const { return static_cast<float>(toDouble()); }
double String::toDouble() const { return std::strtod(s_.c_str(), nullptr); }

String operator+(const String& lhs, const String& rhs) { return String(lhs.str() + rhs.str()); }
String operator+(const String& lhs, const char* rhs) { return lhs + String(rhs); }
String operator+(const char* lhs, const String& rhs) { return String(lhs) + rhs; }
String operator+(const String& lhs, char rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, unsigned char rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, int rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, unsigned int rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, long rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, unsigned long rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, long long rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, unsigned long long rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, float rhs) { return lhs + String(rhs); }
String operator+(const String& lhs, double rhs) { return lhs + String(rhs); }
