// Regression tests for what fuzz/fuzz_config found in parse_schedule (through the run config's
// "schedule" setting); the input is also in fuzz/corpus/config/.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/error.h"
#include "optim/schedule.h"

using namespace tg;

TEST_CASE("parse_schedule: step counts outside int64 or not finite are refused, not cast (UB)") {
  // fuzz_config: "step:2222...236:0.1" (88 digits) was converted to int64_t: UBSan "2.22222e+85 is
  // outside the range of representable values of type 'long'".
  const std::string huge(88, '2');
  for (const std::string& spec : std::vector<std::string>{"step:" + huge + ":0.1", "step:nan:0.1", "step:inf:0.5", "step:-1e300:0.5",
                                 "warmup:" + huge + "+constant", "warmup:nan+cosine", "warmup:-inf+linear"}) {
    CAPTURE(spec);
    std::string msg;
    try {
      optim::parse_schedule(spec, 1000);
    } catch (const Error& e) {
      msg = e.what();
    }
    CHECK(msg.find("in '" + spec + "' is not a usable number of steps") != std::string::npos);
  }
  // Ordinary counts still parse, fractions truncated as before.
  CHECK(optim::parse_schedule("step:30:0.1", 100) != nullptr);
  CHECK(optim::parse_schedule("warmup:10.5+cosine", 100) != nullptr);
}
