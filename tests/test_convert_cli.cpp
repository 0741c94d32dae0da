// Check tests for the tavce-convert command line: with stdout and stderr in
// one pipe (2>&1, as on a terminal), every line it prints is whole, the
// sha256 line of each input holds the file's digest, and an error is a line
// of its own after everything printed before it. The tool is
// $TAVCE_CONVERT (tests/meson.build sets it).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tavce/util/sha256.h"

// Last: check.h defines a macro named fail that breaks std::ios::fail().
#include <check.h>

namespace fs = std::filesystem;

namespace {

// Named once, before check forks a process per test, so main can remove it.
const fs::path kScratch = fs::temp_directory_path() / ("tavce-test-convert-cli-" + std::to_string(::getpid()));

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = kScratch / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_random(const fs::path& path, size_t bytes, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(bytes, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(path, std::ios::binary) << data;
}

struct Run {
  int status = -1;
  std::vector<std::string> lines;
  std::string text;
};

// Runs tavce-convert with args, stdout and stderr into one pipe.
Run run_convert(const std::string& args) {
  const char* tool = std::getenv("TAVCE_CONVERT");
  ck_assert_msg(tool != nullptr, "TAVCE_CONVERT is not set (run through meson test)");
  const std::string cmd = std::string("'") + tool + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ck_assert_msg(p != nullptr, "cannot run %s", cmd.c_str());
  Run r;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.text.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  size_t start = 0;
  while (start < r.text.size()) {
    const size_t end = r.text.find('\n', start);
    ck_assert_msg(end != std::string::npos, "output does not end with a newline: '%s'", r.text.c_str());
    r.lines.push_back(r.text.substr(start, end - start));
    start = end + 1;
  }
  return r;
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

bool is_hex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Every line but the last is a whole progress line (no error text inside);
// the last is the error. Returns the digest printed for `input`.
std::string check_lines(const Run& r, const std::string& input) {
  ck_assert_msg(r.status == 2, "exit status %d, expected 2; output:\n%s", r.status, r.text.c_str());
  ck_assert_msg(!r.lines.empty(), "no output");
  ck_assert_msg(starts_with(r.lines.back(), "tavce-convert: error: "), "last line is not the error: '%s'",
                r.lines.back().c_str());
  std::string digest;
  for (size_t i = 0; i + 1 < r.lines.size(); ++i) {
    const std::string& l = r.lines[i];
    ck_assert_msg(l.find("error") == std::string::npos, "the error landed inside line %zu: '%s'", i, l.c_str());
    ck_assert_msg(starts_with(l, "layout: ") || starts_with(l, "skipped ") || starts_with(l, "input "),
                  "line %zu is not a whole progress line: '%s'", i, l.c_str());
    if (!starts_with(l, "input ")) continue;
    const size_t at = l.find(" bytes, sha256 ");
    ck_assert_msg(at != std::string::npos && is_hex64(l.substr(at + 15)), "broken sha256 line: '%s'", l.c_str());
    if (starts_with(l, "input " + input + ": ")) digest = l.substr(at + 15);
  }
  return digest;
}

}  // namespace

// A file with an official name that is not the official file: its sha256
// line is printed whole, then the reader's error on a line of its own.
START_TEST(error_after_sha256_line) {
  const fs::path in = fresh_dir("bad-safetensors");
  write_random(in / "SadTalker_V0.0.2_256.safetensors", 3 << 20, 1);
  { std::ofstream(in / "notes.txt") << "a user's notes"; }
  const Run r = run_convert("'" + in.string() + "' '" + (fresh_dir("out1") / "b").string() + "'");
  const std::string digest = check_lines(r, "SadTalker_V0.0.2_256.safetensors");
  ck_assert_msg(digest == tavce::util::sha256_file((in / "SadTalker_V0.0.2_256.safetensors").string()),
                "printed digest '%s' is not the file's", digest.c_str());
  ck_assert_msg(r.text.find("skipped notes.txt: not an official file") != std::string::npos, "%s", r.text.c_str());
  ck_assert_msg(!fs::exists(fresh_dir("out1") / "b" / "model.json"), "a bundle was written");
}
END_TEST

// The same for a torch.save file (the per-module layout's checkpoints and
// the mapping files): garbage named as the official per-module files.
START_TEST(error_after_sha256_line_torch) {
  const fs::path in = fresh_dir("bad-pth");
  write_random(in / "auido2exp_00300-model.pth", 1 << 20, 2);
  write_random(in / "mapping_00229-model.pth.tar", 1 << 20, 3);
  const Run r = run_convert("'" + in.string() + "' '" + (fresh_dir("out2") / "b").string() + "' --partial");
  const std::string digest = check_lines(r, "auido2exp_00300-model.pth");
  ck_assert_msg(digest == tavce::util::sha256_file((in / "auido2exp_00300-model.pth").string()),
                "printed digest '%s' is not the file's", digest.c_str());
  ck_assert_msg(r.lines.front() == "layout: per-module (auido2exp_00300-model.pth, auido2pose_00140-model.pth, "
                                   "facevid2vid_00189-model.pth.tar, epoch_20.pth, mapping files)",
                "'%s'", r.lines.front().c_str());
}
END_TEST

// Nothing official in the directory: one error line naming what was expected.
START_TEST(error_names_expected_files) {
  const fs::path in = fresh_dir("empty");
  const Run r = run_convert("'" + in.string() + "' '" + (fresh_dir("out3") / "b").string() + "' --layout 512");
  check_lines(r, "");
  ck_assert_msg(r.lines.back().find("SadTalker_V0.0.2_512.safetensors not found") != std::string::npos, "'%s'",
                r.lines.back().c_str());
  ck_assert_msg(r.lines.back().find("mapping_00109-model.pth.tar not found") != std::string::npos, "'%s'",
                r.lines.back().c_str());
  const Run bad = run_convert("'" + in.string() + "' '" + (fresh_dir("out4") / "b").string() + "' --layout 1024");
  check_lines(bad, "");
  ck_assert_msg(bad.lines.back().find("unknown layout '1024' (expected 256, 512 or per-module)") != std::string::npos,
                "'%s'", bad.lines.back().c_str());
}
END_TEST

int main() {
  Suite* s = suite_create("convert_cli");
  TCase* tc = tcase_create("convert_cli");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, error_after_sha256_line);
  tcase_add_test(tc, error_after_sha256_line_torch);
  tcase_add_test(tc, error_names_expected_files);
  suite_add_tcase(s, tc);
  SRunner* sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  fs::remove_all(kScratch);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
