// Arduino's String as sketches use it.
#include <gtest/gtest.h>

#include "Arduino.h"

namespace {

TEST(ArduinoString, NumbersConvertLikeArduino) {
    EXPECT_EQ(String(42).str(), "42");
    EXPECT_EQ(String(-42).str(), "-42");
    EXPECT_EQ(String(255, HEX).str(), "ff");
    EXPECT_EQ(String(5, BIN).str(), "101");
    EXPECT_EQ(String(24.0f).str(), "24.00");  // two decimals by default
    EXPECT_EQ(String(3.14159, 3).str(), "3.142");
    EXPECT_EQ(String(NAN).str(), "nan");
    EXPECT_EQ(String('x').str(), "x");
    EXPECT_EQ(String(40000UL).str(), "40000");
}

TEST(ArduinoString, ConcatenationAndComparison) {
    String s = "Temp: ";
    s += 21;
    s += ' ';
    s += String(1.5f);
    EXPECT_EQ(s, "Temp: 21 1.50");
    EXPECT_TRUE("a" + String("b") + 'c' + 1 == String("abc1"));
    EXPECT_TRUE(String("abc") < String("abd"));
    EXPECT_TRUE(String("Hello").equalsIgnoreCase("hELLO"));
    EXPECT_FALSE(String("Hello").equals("hello"));
    EXPECT_EQ(String("b").compareTo(String("a")), 1);
    EXPECT_TRUE("on" == String("on"));
}

TEST(ArduinoString, SearchAndSlices) {
    const String s = "mytopic/room/kitchen";
    EXPECT_EQ(s.length(), 20u);
    EXPECT_EQ(s.indexOf('/'), 7);
    EXPECT_EQ(s.indexOf('/', 8), 12);
    EXPECT_EQ(s.indexOf("room"), 8);
    EXPECT_EQ(s.lastIndexOf('/'), 12);
    EXPECT_EQ(s.indexOf('#'), -1);
    EXPECT_EQ(s.substring(8), "room/kitchen");
    EXPECT_EQ(s.substring(8, 12), "room");
    EXPECT_EQ(s.substring(12, 8), "room");  // swapped bounds, as Arduino does
    EXPECT_EQ(s.substring(99), "");
    EXPECT_TRUE(s.startsWith("mytopic/"));
    EXPECT_TRUE(s.endsWith("kitchen"));
    EXPECT_EQ(s.charAt(0), 'm');
    EXPECT_EQ(s.charAt(100), '\0');
    EXPECT_EQ(s[2], 't');
}

TEST(ArduinoString, EditingInPlace) {
    String s = "  Hello World \r\n";
    s.trim();
    EXPECT_EQ(s, "Hello World");
    s.toUpperCase();
    EXPECT_EQ(s, "HELLO WORLD");
    s.toLowerCase();
    s.replace("world", "moth");
    EXPECT_EQ(s, "hello moth");
    s.replace('o', '0');
    EXPECT_EQ(s, "hell0 m0th");
    s.remove(4, 2);
    EXPECT_EQ(s, "hellm0th");
    s.remove(4);
    EXPECT_EQ(s, "hell");
    s.setCharAt(0, 'H');
    EXPECT_EQ(s, "Hell");
    char buf[3];
    s.toCharArray(buf, sizeof buf);
    EXPECT_STREQ(buf, "He");
}

TEST(ArduinoString, ParsesNumbers) {
    EXPECT_EQ(String("123abc").toInt(), 123);
    EXPECT_EQ(String("abc").toInt(), 0);
    EXPECT_FLOAT_EQ(String("24.50").toFloat(), 24.5f);
    EXPECT_DOUBLE_EQ(String("-1e3").toDouble(), -1000.0);
    EXPECT_TRUE(String().isEmpty());
}

}  // namespace
