// Arduino's String: a growable text value with the methods sketches use. Indices are unsigned int like Arduino's;
// out-of-range indices give empty results rather than errors, as on the boards.
#ifndef MOTH_ARDUINO_WSTRING_H
#define MOTH_ARDUINO_WSTRING_H

#include <stddef.h>
#include <stdint.h>

#include <string>

class __FlashStringHelper;
#define F(string_literal) (reinterpret_cast<const __FlashStringHelper*>(string_literal))
#define PSTR(s) (s)
#define PROGMEM

class String {
public:
    String() = default;
    String(const char* cstr) : s_(cstr != nullptr ? cstr : "") {}  // NOLINT: implicit like Arduino's
    String(const char* cstr, unsigned int length) : s_(cstr != nullptr ? cstr : "", cstr != nullptr ? length : 0) {}
    String(const __FlashStringHelper* str) : String(reinterpret_cast<const char*>(str)) {}  // NOLINT
    String(const std::string& s) : s_(s) {}  // NOLINT
    explicit String(char c) : s_(1, c) {}
    explicit String(unsigned char value, unsigned char base = 10);
    explicit String(int value, unsigned char base = 10);
    explicit String(unsigned int value, unsigned char base = 10);
    explicit String(long value, unsigned char base = 10);
    explicit String(unsigned long value, unsigned char base = 10);
    explicit String(long long value, unsigned char base = 10);
    explicit String(unsigned long long value, unsigned char base = 10);
    explicit String(float value, unsigned int decimal_places = 2);
    explicit String(double value, unsigned int decimal_places = 2);

    unsigned char reserve(unsigned int size);
    unsigned int length() const { return static_cast<unsigned int>(s_.size()); }
    bool isEmpty() const { return s_.empty(); }
    const char* c_str() const { return s_.c_str(); }
    char* begin() { return s_.data(); }
    char* end() { return s_.data() + s_.size(); }
    const char* begin() const { return s_.data(); }
    const char* end() const { return s_.data() + s_.size(); }

    bool concat(const String& str);
    bool concat(const char* cstr);
    bool concat(const char* cstr, unsigned int length);
    bool concat(char c);
    bool concat(unsigned char num);
    bool concat(int num);
    bool concat(unsigned int num);
    bool concat(long num);
    bool concat(unsigned long num);
    bool concat(long long num);
    bool concat(unsigned long long num);
    bool concat(float num);
    bool concat(double num);

    template <typename T>
    String& operator+=(const T& rhs) {
        concat(rhs);
        return *this;
    }

    int compareTo(const String& s) const;
    bool equals(const String& s) const { return s_ == s.s_; }
    bool equals(const char* cstr) const { return s_ == (cstr != nullptr ? cstr : ""); }
    bool equalsIgnoreCase(const String& s) const;
    bool equalsConstantTime(const String& s) const;
    bool operator==(const String& rhs) const { return equals(rhs); }
    bool operator==(const char* cstr) const { return equals(cstr); }
    bool operator!=(const String& rhs) const { return !equals(rhs); }
    bool operator!=(const char* cstr) const { return !equals(cstr); }
    bool operator<(const String& rhs) const { return compareTo(rhs) < 0; }
    bool operator>(const String& rhs) const { return compareTo(rhs) > 0; }
    bool operator<=(const String& rhs) const { return compareTo(rhs) <= 0; }
    bool operator>=(const String& rhs) const { return compareTo(rhs) >= 0; }
    bool startsWith(const String& prefix) const;
    bool startsWith(const String& prefix, unsigned int offset) const;
    bool endsWith(const String& suffix) const;

    char charAt(unsigned int index) const;
    void setCharAt(unsigned int index, char c);
    char operator[](unsigned int index) const;
    char& operator[](unsigned int index);
    void getBytes(unsigned char* buf, unsigned int bufsize, unsigned int index = 0) const;
    void toCharArray(char* buf, unsigned int bufsize, unsigned int index = 0) const {
        getBytes(reinterpret_cast<unsigned char*>(buf), bufsize, index);
    }

    int indexOf(char ch) const { return indexOf(ch, 0); }
    int indexOf(char ch, unsigned int from_index) const;
    int indexOf(const String& str) const { return indexOf(str, 0); }
    int indexOf(const String& str, unsigned int from_index) const;
    int lastIndexOf(char ch) const;
    int lastIndexOf(char ch, unsigned int from_index) const;
    int lastIndexOf(const String& str) const;
    int lastIndexOf(const String& str, unsigned int from_index) const;
    String substring(unsigned int begin_index) const { return substring(begin_index, length()); }
    String substring(unsigned int begin_index, unsigned int end_index) const;

    void replace(char find, char replace);
    void replace(const String& find, const String& replace);
    void remove(unsigned int index);
    void remove(unsigned int index, unsigned int count);
    void toLowerCase();
    void toUpperCase();
    void trim();

    long toInt() const;
    float toFloat() const;
    double toDouble() const;

    const std::string& str() const { return s_; }  // Moth extension, for the layer itself

private:
    std::string s_;
};

String operator+(const String& lhs, const String& rhs);
String operator+(const String& lhs, const char* rhs);
String operator+(const char* lhs, const String& rhs);
String operator+(const String& lhs, char rhs);
String operator+(const String& lhs, unsigned char rhs);
String operator+(const String& lhs, int rhs);
String operator+(const String& lhs, unsigned int rhs);
String operator+(const String& lhs, long rhs);
String operator+(const String& lhs, unsigned long rhs);
String operator+(const String& lhs, long long rhs);
String operator+(const String& lhs, unsigned long long rhs);
String operator+(const String& lhs, float rhs);
String operator+(const String& lhs, double rhs);
inline bool operator==(const char* lhs, const String& rhs) { return rhs.equals(lhs); }
inline bool operator!=(const char* lhs, const String& rhs) { return !rhs.equals(lhs); }

#endif
