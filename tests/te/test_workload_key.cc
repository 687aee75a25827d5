// Workload keys: equal for the same computation under other names, different for another shape,
// dtype or computation.
#include <gtest/gtest.h>

#include "tessel/te/workload_key.h"

namespace tessel::te {
namespace {

Tensor matmul(int m, int n, int k, DataType t, const std::string& prefix, bool plus_one = false) {
  Tensor A = placeholder({m, k}, t, prefix + "A");
  Tensor B = placeholder({k, n}, t, prefix + "B");
  IterVar r = reduce_axis(0, k, prefix + "r");
  return compute_reduce({m, n}, [&](const std::vector<Var>& i) {
    Expr product = A({i[0], r}) * B({r, i[1]});
    if (plus_one) product = product + make_const(t, 1);
    return sum(product, {r});
  }, prefix + "C");
}

TEST(WorkloadKey, IgnoresNames) {
  std::string a = workload_key({matmul(64, 32, 16, DataType::Float(32), "x")});
  std::string b = workload_key({matmul(64, 32, 16, DataType::Float(32), "other_")});
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(workload_text({matmul(4, 4, 4, DataType::Float(32), "p")}),
            workload_text({matmul(4, 4, 4, DataType::Float(32), "q")}));
}

TEST(WorkloadKey, SensitiveToShapeDtypeAndComputation) {
  std::string base = workload_key({matmul(64, 32, 16, DataType::Float(32), "")});
  EXPECT_NE(base, workload_key({matmul(64, 32, 17, DataType::Float(32), "")}));
  EXPECT_NE(base, workload_key({matmul(32, 64, 16, DataType::Float(32), "")}));
  EXPECT_NE(base, workload_key({matmul(64, 32, 16, DataType::Float(64), "")}));
  EXPECT_NE(base, workload_key({matmul(64, 32, 16, DataType::Float(32), "", true)}));
}

TEST(WorkloadKey, KnownValueIsStable) {
  // Guards against accidental changes of the canonical form: keys are stored in tuning databases.
  Tensor X = placeholder({8}, DataType::Float(32), "X");
  Tensor Y = compute({8}, [&](const std::vector<Var>& i) { return X({i[0]}) * 2.0; }, "Y");
  EXPECT_EQ(workload_text({Y}),
            "t0 float32[int32:8,] placeholder\n"
            "t1 float32[int32:8,] compute axis[v0=int32:0+int32:8;] body=float32:(* float32:(t0 int32:v0) float32:0x1p+1)\n"
            "outputs t1");
}

}  // namespace
}  // namespace tessel::te
