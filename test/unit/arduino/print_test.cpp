// Arduino's Print formatting (Serial.print and friends), and Serial on the device's serial monitor.
#include <gtest/gtest.h>

#include <string>

#include "Arduino.h"
#include "arduino/device.hpp"

namespace {

class Capture : public Print {
public:
    using Print::write;
    size_t write(uint8_t c) override {
        text.push_back(static_cast<char>(c));
        return 1;
    }
    std::string text;
};

TEST(ArduinoPrint, FloatsHaveTwoDecimalsByDefault) {
    Capture p;
    p.print(24.0f);
    p.print(' ');
    p.print(40.456);
    p.print(' ');
    p.print(1.005, 1);
    p.print(' ');
    p.print(2.5, 0);
    p.print(' ');
    p.print(-0.125, 2);
    p.print(' ');
    p.print(3.14159, 4);
    EXPECT_EQ(p.text, "24.00 40.46 1.0 3 -0.13 3.1416");
}

TEST(ArduinoPrint, SpecialFloatsPrintLikeArduino) {
    Capture p;
    p.print(NAN);
    p.print(' ');
    p.print(INFINITY);
    p.print(' ');
    p.print(5e9);
    EXPECT_EQ(p.text, "nan inf ovf");
}

TEST(ArduinoPrint, IntegersInBasesAndPrintlnEndsWithCrLf) {
    Capture p;
    p.print(255, HEX);
    p.print(' ');
    p.print(8, OCT);
    p.print(' ');
    p.print(5, BIN);
    p.print(' ');
    p.print(-17);
    p.print(' ');
    p.print(static_cast<unsigned char>(65));  // a number, not 'A'
    p.print(' ');
    p.print('A');
    p.println();
    p.println("x");
    EXPECT_EQ(p.text, "FF 10 101 -17 65 A\r\nx\r\n");
}

TEST(ArduinoPrint, PrintfFormatsLongText) {
    Capture p;
    const std::string long_word(300, 'w');
    p.printf("%s=%.2f %d", long_word.c_str(), 24.0, 7);
    EXPECT_EQ(p.text, long_word + "=24.00 7");
}

TEST(ArduinoSerial, LinesGoToStandardOutputWithTheFleetPrefix) {
    moth::arduino::DeviceOptions options;
    options.count = 12;
    options.client_id = "TEST";
    moth::arduino::Device device(options, 6);
    moth::arduino::set_current_device(&device);
    testing::internal::CaptureStdout();
    Serial.print("Humidity : ");
    Serial.println(40.0f);
    Serial.print("partial");  // a fleet prints whole lines only
    const std::string out = testing::internal::GetCapturedStdout();
    moth::arduino::set_current_device(nullptr);
    EXPECT_EQ(out, "[TEST-0007] Humidity : 40.00\n");
}

}  // namespace
