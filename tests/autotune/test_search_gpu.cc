// The auto-scheduler on CUDA tasks: a task carries its CUDA target (records keyed by
// "cuda -arch=..." and never served for an LLVM target), the search hands out GPU candidates that
// apply, fit the GPU limits, compute the right answer (loop-IR interpreter against naive loops) and
// build with NVRTC (build-only measurement, no GPU needed); without a GPU driver tuning fails at
// once with one clear error and writes nothing. With a GPU, a short tune finds a valid schedule.
// NVRTC-dependent parts skip when the CUDA toolkit is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "tessel/autotune/search.h"
#include "tessel/codegen/cuda.h"
#include "tessel/codegen/cuda_runtime.h"
#include "tessel/ir/error.h"
#include "tessel/ir/interpreter.h"
#include "tessel/te/ops/nn.h"
#include "tessel/te/ops/tensor.h"
#include "test_util.h"

namespace tessel::autotune {
namespace {

std::string temp_path(const std::string& name) { return testing::temp_path("tessel_search_gpu", name); }

constexpr int kM = 37, kN = 29, kK = 19;  // odd shapes: no tile divides them evenly

SearchTask cuda_matmul_task(const std::string& target = "cuda") {
  te::Tensor a = te::placeholder({kM, kK}, DataType::Float(32), "A");
  te::Tensor b = te::placeholder({kK, kN}, DataType::Float(32), "B");
  return SearchTask({te::ops::matmul(a, b)}, {}, target, "matmul");
}

TuneOptions quick_options(const std::string& records) {
  return testing::quick_tune(records, /*trials=*/8, /*batch=*/8, /*seed=*/3, testing::quick_measure(1, 10));
}

// C = A x B by naive loops, in double.
std::vector<double> naive_matmul(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> c(static_cast<size_t>(kM) * kN);
  for (int i = 0; i < kM; ++i)
    for (int j = 0; j < kN; ++j) {
      double s = 0;
      for (int k = 0; k < kK; ++k) s += double(a[i * kK + k]) * b[k * kN + j];
      c[i * kN + j] = s;
    }
  return c;
}

TEST(SearchGpu, TaskCarriesTheCudaTarget) {
  SearchTask task = cuda_matmul_task("cuda -arch=sm_80");
  EXPECT_TRUE(task.is_cuda());
  EXPECT_EQ(task.cuda_target().arch, "sm_80");
  EXPECT_EQ(task.target_string(), codegen::CudaTarget::parse("cuda -arch=sm_80").to_string());
  EXPECT_EQ(task.target_string().rfind("cuda", 0), 0u);
  EXPECT_EQ(task.schedule_target().kind, "cuda");
  EXPECT_TRUE(task.hardware().gpu);
  EXPECT_EQ(task.hardware().max_threads_per_block, GpuLimits().max_threads_per_block);
  // The GPU limits travel with the records' hardware parameters; CPU parameters stay as they were.
  HardwareParams hw = task.hardware();
  hw.max_threads_per_block = 256;
  EXPECT_EQ(HardwareParams::from_json(hw.to_json()), hw);
  EXPECT_EQ(HardwareParams().to_json().find("gpu"), std::string::npos);
  SearchTask cpu = cuda_matmul_task("llvm");
  EXPECT_FALSE(cpu.is_cuda());
  EXPECT_EQ(cpu.schedule_target().kind, "llvm");
  EXPECT_EQ(cpu.target_string(), codegen::Target::parse("llvm").to_string());
  EXPECT_EQ(cpu.workload_key(), task.workload_key());  // same DAG, told apart by the target
  EXPECT_THROW(cuda_matmul_task("cuda -arch=banana"), CompileError);
  EXPECT_THROW(cpu.cuda_target(), InternalError);
}

// The GPU limits a policy searches under come from the task's hardware parameters.
TEST(SearchGpu, PolicyUsesTheTaskLimits) {
  SearchTask task = cuda_matmul_task();
  HardwareParams hw = task.hardware();
  hw.max_threads_per_block = 64;
  task.set_hardware(hw);
  TuneOptions options = quick_options("");
  SearchPolicy policy(task, nullptr, options, 7);
  EXPECT_EQ(policy.gpu_limits().max_threads_per_block, 64);
  EXPECT_FALSE(policy.gpu_sketches().empty());
  EXPECT_TRUE(policy.sketches().empty());
  auto batch = policy.next_batch(6);
  ASSERT_FALSE(batch.empty());
  for (size_t i = 1; i < batch.size(); ++i) {  // [0] is the default schedule, which is not searched
    te::Schedule s = task.replay(batch[i]);
    std::string why;
    EXPECT_TRUE(gpu_candidate_fits(task, s, policy.gpu_limits(), &why)) << why;
  }
}

// Candidates of a batch apply, fit the limits, compute the product (under the interpreter) and
// build with NVRTC.
TEST(SearchGpu, NextBatchAppliesFitsAndBuilds) {
  SearchTask task = cuda_matmul_task();
  TuneOptions options = quick_options("");
  SearchPolicy policy(task, nullptr, options, 11);
  auto batch = policy.next_batch(8);
  ASSERT_EQ(batch.size(), 8u);
  EXPECT_EQ(te::steps_to_json(batch[0]), te::steps_to_json(task.default_schedule().steps()));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(kM * kK), b(kK * kN);
  for (float& v : a) v = dist(rng);
  for (float& v : b) v = dist(rng);
  std::vector<double> want = naive_matmul(a, b);
  for (size_t i = 0; i < batch.size(); ++i) {
    te::Schedule s = task.replay(batch[i]);
    PrimFunc f = task.lower(s, "candidate");
    std::string why;
    EXPECT_TRUE(gpu_function_fits(f, policy.gpu_limits(), &why)) << "candidate " << i << ": " << why;
    if (i > 3) continue;  // the interpreter runs thread loops serially: a few are enough
    std::vector<float> c(kM * kN, 0.0f);
    interpret(f, {static_cast<void*>(a.data()), static_cast<void*>(b.data()), static_cast<void*>(c.data())});
    for (size_t e = 0; e < c.size(); ++e) {
      ASSERT_NEAR(c[e], want[e], 1e-4 * (1 + std::fabs(want[e]))) << "candidate " << i << ", element " << e;
    }
  }
  std::string why;
  if (!codegen::nvrtc_available(&why)) GTEST_SKIP() << "no NVRTC: " << why;
  MeasureOptions measure;
  measure.build_only = true;
  measure.build_timeout_seconds = 60;
  Measurer measurer(task, measure);
  std::vector<MeasureResult> results = measurer.measure(batch);
  ASSERT_EQ(results.size(), batch.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].error, MeasureError::kNone) << "candidate " << i << ": " << results[i].message;
    EXPECT_TRUE(results[i].costs.empty());
    EXPECT_FALSE(results[i].features.empty());
  }
}

// A build error is reported per candidate: a step list whose CUDA does not exist for the task
// (a CPU parallel loop cannot run on the GPU) fails, the others still build.
TEST(SearchGpu, BuildOnlyReportsBuildErrors) {
  std::string why;
  if (!codegen::nvrtc_available(&why)) GTEST_SKIP() << "no NVRTC: " << why;
  SearchTask task = cuda_matmul_task();
  SearchTask cpu = cuda_matmul_task("llvm");
  std::vector<std::vector<te::Step>> batch = {cpu.default_schedule().steps(), task.default_schedule().steps()};
  MeasureOptions measure;
  measure.build_only = true;
  measure.build_timeout_seconds = 60;
  Measurer measurer(task, measure);
  auto results = measurer.measure(batch);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_NE(results[0].error, MeasureError::kNone);
  EXPECT_FALSE(results[0].message.empty());
  EXPECT_EQ(results[1].error, MeasureError::kNone) << results[1].message;
}

// Without a driver, tuning a CUDA task fails before it starts: one CompileError, no records.
TEST(SearchGpu, TuningWithoutDriverFailsFast) {
  std::string why;
  if (cuda_measurement_available(&why)) GTEST_SKIP() << "a GPU is present";
  EXPECT_FALSE(why.empty());
  std::string records = temp_path("nodriver.jsonl");
  std::vector<SearchTask> tasks = {cuda_matmul_task()};
  TaskScheduler scheduler(tasks, quick_options(records));
  try {
    scheduler.tune();
    ADD_FAILURE() << "tune() did not throw";
  } catch (const CompileError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("tuning for cuda needs an NVIDIA GPU and its driver: "), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_FALSE(std::filesystem::exists(records));
}

// Records of the CUDA task are keyed by its target: a CPU task of the same DAG never sees them.
TEST(SearchGpu, CudaRecordsNeverServeTheCpu) {
  SearchTask gpu = cuda_matmul_task();
  SearchTask cpu = cuda_matmul_task("llvm");
  std::string records = temp_path("records.jsonl");
  TuningRecord r;
  r.workload_key = gpu.workload_key();
  r.task_name = gpu.name();
  r.target = gpu.target_string();
  r.hardware = gpu.hardware();
  r.steps_json = te::steps_to_json(gpu.default_schedule().steps());
  r.costs = {1e-5};
  append_records(records, {r});
  LoadedRecords loaded = load_records(records);
  ASSERT_EQ(loaded.records.size(), 1u);
  EXPECT_EQ(loaded.records[0].target, "cuda -arch=sm_90");
  EXPECT_TRUE(loaded.records[0].hardware.gpu);
  EXPECT_TRUE(best_record(loaded.records, gpu.workload_key(), gpu.target_string()).has_value());
  EXPECT_FALSE(best_record(loaded.records, cpu.workload_key(), cpu.target_string()).has_value());
  RecordScheduleProvider provider(records);
  EXPECT_FALSE(provider.find(cpu.workload_key(), cpu.target()).has_value());
  TuneOptions options = quick_options("");
  SearchPolicy cpu_policy(cpu, nullptr, options, 1);
  EXPECT_EQ(cpu_policy.resume_from(loaded.records), 0);
  SearchPolicy gpu_policy(gpu, nullptr, options, 1);
  EXPECT_EQ(gpu_policy.resume_from(loaded.records), 1);
  EXPECT_DOUBLE_EQ(gpu_policy.best_cost(), 1e-5);
  // The stored default schedule counts as measured: the first batch does not offer it again.
  auto batch = gpu_policy.next_batch(4);
  for (const auto& steps : batch) EXPECT_NE(te::steps_to_json(steps), r.steps_json);
  std::filesystem::remove(records);
}

// With a GPU: a short tune finds valid schedules whose output (checked against the default GPU
// schedule in the measurement) is recorded.
TEST(SearchGpu, TuneOnDevice) {
  std::string why;
  if (!cuda_measurement_available(&why)) GTEST_SKIP() << "no GPU: " << why;
  std::string records = temp_path("device.jsonl");
  std::vector<SearchTask> tasks = {cuda_matmul_task()};
  TaskScheduler scheduler(tasks, quick_options(records));
  std::vector<double> best = scheduler.tune();
  ASSERT_EQ(best.size(), 1u);
  EXPECT_TRUE(std::isfinite(best[0]));
  LoadedRecords loaded = load_records(records);
  EXPECT_EQ(loaded.records.size(), 8u);
  for (const TuningRecord& r : loaded.records) EXPECT_EQ(r.target, "cuda -arch=sm_90");
  std::filesystem::remove(records);
}

}  // namespace
}  // namespace tessel::autotune
