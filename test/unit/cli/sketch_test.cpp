// moth device's sketch preprocessing: prototypes as the Arduino IDE makes them.
#include "sketch.hpp"

#include <gtest/gtest.h>

namespace {

using moth::cli::preprocess_sketch;

TEST(SketchPreprocess, PrototypesGoBeforeTheFirstDefinition) {
    const std::string sketch =
        "#include <PubSubClient.h>\n"                                       // 1
        "int value = 0;\n"                                                  // 2
        "void setup() {\n"                                                  // 3
        "  client.setCallback(callback);\n"                                 // 4
        "}\n"                                                               // 5
        "void callback(char* topic, byte* payload, unsigned int length)\n"  // 6: brace on the next line
        "{\n"                                                               // 7
        "  if (length > 0) { helper(); }\n"                                 // 8
        "}\n"                                                               // 9
        "static int helper() { return 1; }\n"                               // 10
        "const char* name(int i = 0) { return \"x\"; }\n"                   // 11: default argument: no prototype
        "void loop() {}\n";                                                 // 12
    const std::string out = preprocess_sketch(sketch, "/s/s.ino");
    EXPECT_EQ(out,
              "#line 1 \"/s/s.ino\"\n"
              "#include <PubSubClient.h>\n"
              "int value = 0;\n"
              "void callback(char* topic, byte* payload, unsigned int length);\n"
              "static int helper();\n"
              "#line 3 \"/s/s.ino\"\n"
              "void setup() {\n"
              "  client.setCallback(callback);\n"
              "}\n"
              "void callback(char* topic, byte* payload, unsigned int length)\n"
              "{\n"
              "  if (length > 0) { helper(); }\n"
              "}\n"
              "static int helper() { return 1; }\n"
              "const char* name(int i = 0) { return \"x\"; }\n"
              "void loop() {}\n"
              "\n");
}

TEST(SketchPreprocess, IgnoresCodeInsideBracesCommentsAndStrings) {
    const std::string sketch =
        "/* void fake() {\n"
        "*/\n"
        "const char* s = \"{\";\n"
        "struct Point {\n"
        "  int x() { return 1; }\n"  // a member function: not a prototype at file scope
        "};\n"
        "// void commented() {\n"
        "void real() {\n"
        "  if (true) {\n"
        "  }\n"
        "}\n";
    const std::string out = preprocess_sketch(sketch, "a.ino");
    EXPECT_NE(out.find("void real();\n#line 8 \"a.ino\"\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("fake();"), std::string::npos) << out;
    EXPECT_EQ(out.find("x();"), std::string::npos) << out;
    EXPECT_EQ(out.find("commented();"), std::string::npos) << out;
    EXPECT_EQ(out.find("if ("), out.find("  if (true)") + 2) << out;  // no prototype for a keyword
}

TEST(SketchPreprocess, NoDefinitionsLeavesTheTextAlone) {
    EXPECT_EQ(preprocess_sketch("int x = 1;\n", "b.ino"), "#line 1 \"b.ino\"\nint x = 1;\n\n");
}

}  // namespace
