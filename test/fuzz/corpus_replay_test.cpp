// Replays the fuzzer's seed corpus (and any crash reproducers added to it) through the fuzz target as
// an ordinary unit test, so that every build checks them, not only fuzzing runs.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

TEST(FuzzCorpusReplay, EverySeedRunsClean) {
    const std::filesystem::path dir = MOTH_FUZZ_CORPUS;
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        SCOPED_TRACE(entry.path().filename().string());
        // The target aborts on any broken invariant, which fails this test with the file name above.
        EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0);
        ++files;
    }
    EXPECT_GE(files, std::size_t{MOTH_FUZZ_MIN_SEEDS}) << "the seed corpus at " << dir << " is missing";
}

}  // namespace
