// DataType: construction, predicates, printing and parsing round trips.
#include <gtest/gtest.h>

#include "tessel/ir/error.h"
#include "tessel/ir/type.h"

namespace tessel {
namespace {

TEST(DataType, PredicatesAndSizes) {
  EXPECT_TRUE(DataType::Bool().is_bool());
  EXPECT_FALSE(DataType::Bool().is_uint());
  EXPECT_TRUE(DataType::Bool().is_integral());
  EXPECT_TRUE(DataType::UInt(8).is_uint());
  EXPECT_TRUE(DataType::BFloat16().is_float());
  EXPECT_TRUE(DataType::BFloat16().is_bfloat16());
  EXPECT_EQ(DataType::Float(32, 16).lanes(), 16);
  EXPECT_EQ(DataType::Float(32, 16).bytes(), 4);
  EXPECT_EQ(DataType::Float(16).bytes(), 2);
  EXPECT_EQ(DataType::Bool().bytes(), 1);
  EXPECT_EQ(DataType::Int(64, 4).element_of(), DataType::Int(64));
  EXPECT_NE(DataType::Int(32), DataType::UInt(32));
  EXPECT_NE(DataType::Int(32), DataType::Int(32, 4));
}

TEST(DataType, PrintParseRoundTrip) {
  for (DataType t : {DataType::Bool(), DataType::Bool(8), DataType::Int(8), DataType::Int(16), DataType::Int(32),
                     DataType::Int(64), DataType::UInt(8), DataType::UInt(16), DataType::UInt(32), DataType::UInt(64),
                     DataType::Float(16), DataType::BFloat16(), DataType::Float(32), DataType::Float(64),
                     DataType::Float(32, 16), DataType::Int(8, 64), DataType::BFloat16(32), DataType::Handle()}) {
    EXPECT_EQ(DataType::parse(t.to_string()), t) << t.to_string();
  }
  EXPECT_EQ(DataType::Float(32, 8).to_string(), "float32x8");
  EXPECT_EQ(DataType::Bool().to_string(), "bool");
}

TEST(DataType, ParseRejectsGarbage) {
  for (const char* bad : {"", "float", "float33", "int7", "bfloat32", "complex64", "int32x0", "x8", "handlex4"}) {
    EXPECT_THROW(DataType::parse(bad), CompileError) << bad;
  }
}

}  // namespace
}  // namespace tessel
