/*
 * fedmarl-ns3: tests of the InF channel models (formulas, fields, LOS draws, fading, loss model).
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Run: build/bin/fedmarl-ns3-models-test (all suites; exit status 0 iff all pass), or with
 * ns-3's test-runner options, e.g. --suite=fedmarl-inf-models --verbose. The statistical checks
 * use fixed seeds; FEDMARL_TEST_RNG_RUN=<n> picks another ns-3 run number (their tolerances are
 * 4-5 standard errors, checked over runs 1-40).
 *
 * Hand values at fc = 6 GHz: log10(6) = 0.77815125, so 19 log10(fc) = 14.784874 and
 * 20 log10(fc) = 15.563025. For SL/DL, P_LOS = (1 - r)^(d / d_clutter).
 */

#include "ar1-rayleigh-fading.h"
#include "inf-channel.h"
#include "spatial-field.h"
#include "three-gpp-indoor-factory-channel-condition-model.h"
#include "three-gpp-indoor-factory-propagation-loss-model.h"

#include "ns3/boolean.h"
#include "ns3/channel-condition-model.h"
#include "ns3/constant-position-mobility-model.h"
#include "ns3/double.h"
#include "ns3/pointer.h"
#include "ns3/random-variable-stream.h"
#include "ns3/rng-seed-manager.h"
#include "ns3/string.h"
#include "ns3/test.h"

#include <cmath>
#include <cstdlib>
#include <complex>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

using namespace ns3;
using namespace ns3::fedmarl;

namespace
{

constexpr double kFc = 6.0; // GHz

/// A mobility model standing at (x, y, z).
Ptr<MobilityModel>
NodeAt(double x, double y, double z)
{
    auto m = CreateObject<ConstantPositionMobilityModel>();
    m->SetPosition(Vector(x, y, z));
    return m;
}

/**
 * Seed ns-3's generator for a statistical test. The run number comes from the environment
 * variable FEDMARL_TEST_RNG_RUN (default 1), so the tolerances can be checked over many runs.
 * @param seed the seed of this test case
 */
void
SeedRun(uint32_t seed)
{
    const char* env = std::getenv("FEDMARL_TEST_RNG_RUN");
    RngSeedManager::SetSeed(seed);
    RngSeedManager::SetRun(env ? std::strtoull(env, nullptr, 10) : 1);
}

/// True when f() throws std::invalid_argument.
template <typename F>
bool
ThrowsInvalid(F f)
{
    try
    {
        f();
    }
    catch (const std::invalid_argument&)
    {
        return true;
    }
    return false;
}

// ------------------------------------------------------------------------------------ formulas

/// The closed-form formulas against hand-computed values.
class InfFormulasTestCase : public TestCase
{
  public:
    InfFormulasTestCase()
        : TestCase("InF path loss, LOS probability, noise, J0 rho, Q^-1, Shannon and FBL rates")
    {
    }

  private:
    void DoRun() override
    {
        // Path loss (Table 7.4.1-1) and its max() rules.
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossLos(10.0, kFc), 68.124874, 1e-6, "LOS 10 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossLos(1.0, kFc), 46.624874, 1e-6, "LOS 1 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossLos(0.3, kFc), 46.624874, 1e-6, "clamped to 1 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossLos(1000.0, kFc),
                                  InfPathlossLos(600.0, kFc),
                                  1e-12,
                                  "clamped to 600 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(10.0, kFc, InfScenario::SL),
                                  74.063025,
                                  1e-6,
                                  "SL 10 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(100.0, kFc, InfScenario::DL),
                                  105.563025,
                                  1e-6,
                                  "DL 100 m (raw DL above SL)");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(10.0, kFc, InfScenario::DL),
                                  74.063025,
                                  1e-6,
                                  "DL 10 m = SL (max rule)");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(1.0, kFc, InfScenario::DL),
                                  48.563025,
                                  1e-6,
                                  "DL 1 m = SL 1 m (max rule)");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(1.0, kFc, InfScenario::SL),
                                  48.563025,
                                  1e-6,
                                  "SL 1 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(10.0, kFc, InfScenario::SH),
                                  70.963025,
                                  1e-6,
                                  "SH 10 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(10.0, kFc, InfScenario::DH),
                                  71.093025,
                                  1e-6,
                                  "DH 10 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(10.0, kFc, InfScenario::HH),
                                  68.124874,
                                  1e-6,
                                  "HH is LOS");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathloss(10.0, kFc, InfScenario::DL, true),
                                  68.124874,
                                  1e-6,
                                  "LOS state uses the LOS formula");
        // DL and SL cross where 18.6 + 35.7 x = 33 + 25.5 x, d = 10^(14.4 / 10.2) = 25.8 m.
        const double dx = std::pow(10.0, 14.4 / 10.2);
        NS_TEST_EXPECT_MSG_EQ_TOL(InfPathlossNlos(dx * 0.99, kFc, InfScenario::DL),
                                  InfPathlossNlos(dx * 0.99, kFc, InfScenario::SL),
                                  1e-12,
                                  "below the crossover DL is floored by SL");
        NS_TEST_EXPECT_MSG_GT(InfPathlossNlos(dx * 1.01, kFc, InfScenario::DL),
                              InfPathlossNlos(dx * 1.01, kFc, InfScenario::SL),
                              "above the crossover DL exceeds SL");

        // Shadow-fading std.
        NS_TEST_EXPECT_MSG_EQ(InfShadowStdDb(InfScenario::SL, true), 4.3, "LOS std");
        NS_TEST_EXPECT_MSG_EQ(InfShadowStdDb(InfScenario::SL, false), 5.7, "SL std");
        NS_TEST_EXPECT_MSG_EQ(InfShadowStdDb(InfScenario::DL, false), 7.2, "DL std");
        NS_TEST_EXPECT_MSG_EQ(InfShadowStdDb(InfScenario::SH, false), 5.9, "SH std");
        NS_TEST_EXPECT_MSG_EQ(InfShadowStdDb(InfScenario::DH, false), 4.0, "DH std");
        NS_TEST_EXPECT_MSG_EQ(InfShadowStdDb(InfScenario::HH, false), 4.3, "HH std");

        // LOS probability (Table 7.4.2-1).
        const auto sparseLow = [](double d) {
            return InfLosProbability(d, InfScenario::SL, 0.2, 10.0, 2.0, 1.5, 1.5);
        };
        NS_TEST_EXPECT_MSG_EQ_TOL(sparseLow(10.0), 0.8, 1e-12, "sparse 10 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(sparseLow(20.0), 0.64, 1e-12, "sparse 20 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(sparseLow(0.0), 1.0, 1e-15, "0 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(InfLosProbability(4.0, InfScenario::DL, 0.6, 2.0, 6.0, 1.5, 1.5),
                                  0.16,
                                  1e-12,
                                  "dense 4 m");
        // SH: k scaled by (h_BS - h_UT) / (h_c - h_UT) = 6.5 / 0.5 = 13, so P = 0.8 at 130 m.
        NS_TEST_EXPECT_MSG_EQ_TOL(
            InfLosProbability(130.0, InfScenario::SH, 0.2, 10.0, 2.0, 8.0, 1.5),
            0.8,
            1e-12,
            "SH 130 m");
        NS_TEST_EXPECT_MSG_EQ(InfLosProbability(500.0, InfScenario::HH, 0.2, 10.0, 2.0, 8.0, 8.0),
                              1.0,
                              "HH is always LOS");
        NS_TEST_EXPECT_MSG_EQ(ThrowsInvalid([] {
                                  InfLosProbability(1.0, InfScenario::DH, 0.6, 2.0, 6.0, 4.0, 1.5);
                              }),
                              true,
                              "DH needs h_BS > h_c");
        NS_TEST_EXPECT_MSG_EQ(ThrowsInvalid([] {
                                  InfLosProbability(1.0, InfScenario::SL, 1.0, 2.0, 6.0, 4.0, 1.5);
                              }),
                              true,
                              "r must be < 1");

        // Noise, power units, fading coefficient.
        NS_TEST_EXPECT_MSG_EQ_TOL(NoisePowerW(10e6, 10.0) / std::pow(10.0, -12.4),
                                  1.0,
                                  1e-12,
                                  "-174 dBm/Hz + 10 dB over 10 MHz = -94 dBm");
        NS_TEST_EXPECT_MSG_EQ_TOL(DbmToW(-10.0), 1e-4, 1e-18, "-10 dBm");
        // f_D = 3 * 6e9 / c = 60.04 Hz, J0(2 pi 60.04 * 0.005) = J0(1.88621) = 0.289805.
        NS_TEST_EXPECT_MSG_EQ_TOL(FadingRho(3.0, 6e9, 5e-3), 0.2898054496, 1e-9, "J0 rho");
        NS_TEST_EXPECT_MSG_EQ(FadingRho(0.0, 6e9, 5e-3), 1.0, "static: rho = 1");

        // Inverse normal CDF: reference values, symmetry, edges, and Phi(Phi^-1(p)) = p.
        NS_TEST_EXPECT_MSG_EQ_TOL(InverseNormalCdf(0.975), 1.959963984540054, 1e-13, "0.975");
        NS_TEST_EXPECT_MSG_EQ_TOL(QInv(1e-5), 4.264890793922825, 1e-13, "Q^-1(1e-5)");
        NS_TEST_EXPECT_MSG_EQ_TOL(InverseNormalCdf(1e-10), -6.361340902404056, 1e-12, "1e-10");
        NS_TEST_EXPECT_MSG_EQ(InverseNormalCdf(0.5), 0.0, "median");
        NS_TEST_EXPECT_MSG_EQ(InverseNormalCdf(0.0), -std::numeric_limits<double>::infinity(), "0");
        NS_TEST_EXPECT_MSG_EQ(InverseNormalCdf(1.0), std::numeric_limits<double>::infinity(), "1");
        NS_TEST_EXPECT_MSG_EQ(std::isnan(InverseNormalCdf(1.5)), true, "outside [0, 1]");
        // Round trip through erfc, as an error in x: |Phi(x) - p| / (phi(x) |x|), since
        // comparing Phi(x) with p directly magnifies x's error by ~x^2 in the tails.
        double worst = 0.0;
        for (double lp = -300.0; lp < -0.302; lp += 0.173)
        {
            const double p = std::pow(10.0, lp);
            const double x = InverseNormalCdf(p);
            const double back = 0.5 * std::erfc(-x / std::numbers::sqrt2);
            const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
            worst = std::max(worst, std::abs(back - p) / (pdf * std::abs(x)));
        }
        NS_TEST_EXPECT_MSG_LT(worst, 1e-13, "Phi^-1 relative error below 1e-13");
        // Antisymmetry where 1 - p is exact (p = 2^-k).
        for (int k = 1; k <= 50; ++k)
        {
            const double p = std::ldexp(1.0, -k);
            const double sum = InverseNormalCdf(1.0 - p) + InverseNormalCdf(p);
            NS_TEST_EXPECT_MSG_EQ(sum, 0.0, "antisymmetric at p = 2^-" << k);
        }

        // Rates.
        NS_TEST_EXPECT_MSG_EQ_TOL(ShannonSe(1000.0), 9.967226258835993, 1e-12, "Shannon");
        NS_TEST_EXPECT_MSG_EQ(ShannonSe(0.0), 0.0, "Shannon at 0");
        // log2(1001) - sqrt((1 - 1001^-2) / 256) * 4.26489 * log2(e) = 9.5826679.
        NS_TEST_EXPECT_MSG_EQ_TOL(FblSe(1000.0, 256.0, 1e-5), 9.5826679008, 1e-9, "FBL");
        NS_TEST_EXPECT_MSG_EQ(FblSe(0.01, 256.0, 1e-5), 0.0, "FBL clamped at 0");
        NS_TEST_EXPECT_MSG_EQ_TOL(RewardEq13({1.0, 3.0}, 2.0, 1.0, 2.0),
                                  2.0,
                                  1e-15,
                                  "eq. (13): 4 - 2 * (2 - 1)");

        // Scenario names.
        NS_TEST_EXPECT_MSG_EQ(InfScenarioToString(InfScenarioFromString("sparse")), "SL", "");
        NS_TEST_EXPECT_MSG_EQ(InfScenarioToString(InfScenarioFromString("dense")), "DL", "");
        NS_TEST_EXPECT_MSG_EQ(InfScenarioToString(InfScenarioFromString("sparse-high")), "SH", "");
        NS_TEST_EXPECT_MSG_EQ(InfScenarioToString(InfScenarioFromString("dense-high")), "DH", "");
        NS_TEST_EXPECT_MSG_EQ(InfScenarioToString(InfScenarioFromString("high-high")), "HH", "");
        NS_TEST_EXPECT_MSG_EQ(InfScenarioToString(InfScenarioFromString("dh")), "DH", "");
        NS_TEST_EXPECT_MSG_EQ(ThrowsInvalid([] { InfScenarioFromString("urban"); }), true, "");
    }
};

// --------------------------------------------------------------------------------------- field

/// The spatial field: exact evaluation of a given realisation, and the statistics of drawn ones.
class SpatialFieldTestCase : public TestCase
{
  public:
    SpatialFieldTestCase()
        : TestCase("SpatialField: given realisation, unit variance, exp(-d over dc) correlation")
    {
    }

  private:
    void DoRun() override
    {
        // A two-term field by hand: S = cos(x) + cos(2 y + pi / 2) (scale sqrt(2 / 2) = 1).
        const SpatialField two(10.0, {1.0, 0.0}, {0.0, 2.0}, {0.0, std::numbers::pi / 2});
        NS_TEST_EXPECT_MSG_EQ_TOL(two.Value(0.0, 0.0), 1.0, 1e-15, "S(0, 0)");
        NS_TEST_EXPECT_MSG_EQ_TOL(two.Value(std::numbers::pi, 0.0), -1.0, 1e-15, "S(pi, 0)");
        NS_TEST_EXPECT_MSG_EQ_TOL(two.LinkValue(0.0, 0.0, 0.0, 0.0), 1.0, 1e-15, "Z(a, a)");
        const double d = std::numbers::pi;
        NS_TEST_EXPECT_MSG_EQ_TOL(two.LinkValue(0.0, 0.0, d, 0.0), 0.0, 1e-15, "Z(a, b)");
        NS_TEST_EXPECT_MSG_EQ_TOL(two.CombineLink(1.0, 0.5, 10.0),
                                  1.5 / std::sqrt(2.0 * (1.0 + std::exp(-1.0))),
                                  1e-15,
                                  "combination");
        // The memo returns Value() and follows a point that moves.
        int key = 0;
        NS_TEST_EXPECT_MSG_EQ(two.CachedValue(&key, 0.0, 0.0), two.Value(0.0, 0.0), "memo");
        NS_TEST_EXPECT_MSG_EQ(two.CachedValue(&key, 0.3, 0.7), two.Value(0.3, 0.7), "moved");
        NS_TEST_EXPECT_MSG_EQ(two.CachedLinkValue(&key, 0.3, 0.7, &d, 2.0, 1.0),
                              two.LinkValue(0.3, 0.7, 2.0, 1.0),
                              "memoised link");
        NS_TEST_EXPECT_MSG_EQ(ThrowsInvalid([] { SpatialField(1.0, {1.0}, {1.0, 2.0}, {0.0}); }),
                              true,
                              "mismatched lengths");
        NS_TEST_EXPECT_MSG_EQ(ThrowsInvalid([] { SpatialField(0.0, {1.0}, {1.0}, {0.0}); }),
                              true,
                              "d_c must be > 0");

        // Statistics over realisations. Points far apart sample independent values; per lag the
        // estimate's standard error is ~0.006, so 0.03 is a 5-sigma bound.
        SeedRun(7);
        auto normal = CreateObject<NormalRandomVariable>();
        auto uniform = CreateObject<UniformRandomVariable>();
        normal->SetStream(100);
        uniform->SetStream(101);
        auto place = CreateObject<UniformRandomVariable>();
        place->SetStream(102);
        const double dc = 10.0;
        const std::vector<double> lags{5.0, 10.0, 20.0};
        const int realisations = 300;
        const int points = 200;
        double sumSq = 0.0;
        double sumLinkSq = 0.0;
        double kMax = 0.0;
        std::vector<double> sumProd(lags.size(), 0.0);
        for (int r = 0; r < realisations; ++r)
        {
            const auto field = SpatialField::Draw(dc, normal, uniform);
            NS_TEST_ASSERT_MSG_EQ(field.GetNTerms(), SpatialField::kDefaultTerms, "J");
            for (uint32_t j = 0; j < field.GetNTerms(); ++j)
            {
                kMax = std::max(kMax, std::hypot(field.GetKx()[j], field.GetKy()[j]));
            }
            for (int p = 0; p < points; ++p)
            {
                const double x = place->GetValue(0.0, 1e4);
                const double y = place->GetValue(0.0, 1e4);
                const double theta = place->GetValue(0.0, 2.0 * std::numbers::pi);
                const double s = field.Value(x, y);
                sumSq += s * s;
                for (size_t l = 0; l < lags.size(); ++l)
                {
                    sumProd[l] += s * field.Value(x + lags[l] * std::cos(theta),
                                                  y + lags[l] * std::sin(theta));
                }
                const double z = field.LinkValue(x, y, x + 3.0, y);
                sumLinkSq += z * z;
            }
        }
        const double n = static_cast<double>(realisations) * points;
        const double var = sumSq / n;
        NS_TEST_EXPECT_MSG_EQ_TOL(std::sqrt(var), 1.0, 0.03, "field std");
        NS_TEST_EXPECT_MSG_EQ_TOL(std::sqrt(sumLinkSq / n), 1.0, 0.03, "link value std");
        for (size_t l = 0; l < lags.size(); ++l)
        {
            NS_TEST_EXPECT_MSG_EQ_TOL(sumProd[l] / n / var,
                                      std::exp(-lags[l] / dc),
                                      0.03,
                                      "correlation at lag " << lags[l] << " m");
        }
        NS_TEST_EXPECT_MSG_LT_OR_EQ(kMax, SpatialField::kMaxWavenumber, "tail redrawn");
    }
};

// ------------------------------------------------------------------------- channel condition

/// LOS states: frequency over realisations equals P_LOS; consistency and reciprocity.
class ChannelConditionTestCase : public TestCase
{
  public:
    ChannelConditionTestCase()
        : TestCase("ThreeGppIndoorFactoryChannelConditionModel: LOS frequency = P_LOS")
    {
    }

  private:
    /// Fraction of LOS draws of one link over many realisations of the LOS field.
    double LosFrequency(Ptr<ThreeGppIndoorFactoryChannelConditionModel> model,
                        Ptr<MobilityModel> a,
                        Ptr<MobilityModel> b,
                        int realisations)
    {
        int los = 0;
        for (int r = 0; r < realisations; ++r)
        {
            model->NewRealisation();
            los += model->GetChannelCondition(a, b)->IsLos() ? 1 : 0;
        }
        return static_cast<double>(los) / realisations;
    }

    void DoRun() override
    {
        SeedRun(11);
        // 4000 draws: the binomial standard error is <= 0.008, and 0.035 is > 4 sigma.
        const int realisations = 4000;
        struct Case
        {
            std::string scenario;
            double d2d;
            double zBs;
            double zUt;
            double expected;
        };
        const std::vector<Case> cases{
            {"SL", 2.0, 1.5, 1.5, std::pow(0.8, 0.2)},
            {"SL", 10.0, 1.5, 1.5, 0.8},
            {"sparse", 30.0, 1.5, 1.5, 0.512},
            {"DL", 4.0, 1.5, 1.5, 0.16},
            {"SH", 130.0, 8.0, 1.5, 0.8},
            {"HH", 300.0, 8.0, 8.0, 1.0},
        };
        int64_t stream = 1000;
        for (const auto& c : cases)
        {
            auto model = CreateObject<ThreeGppIndoorFactoryChannelConditionModel>();
            model->SetAttribute("Scenario", StringValue(c.scenario));
            stream += model->AssignStreams(stream);
            auto a = NodeAt(3.0, 4.0, c.zBs);
            auto b = NodeAt(3.0 + c.d2d * 0.6, 4.0 - c.d2d * 0.8, c.zUt);
            NS_TEST_EXPECT_MSG_EQ_TOL(model->ComputePlos(a, b),
                                      c.expected,
                                      1e-12,
                                      "P_LOS " << c.scenario << " " << c.d2d << " m");
            NS_TEST_EXPECT_MSG_EQ_TOL(model->ComputePlos(b, a),
                                      c.expected,
                                      1e-12,
                                      "P_LOS reciprocal");
            NS_TEST_EXPECT_MSG_EQ_TOL(LosFrequency(model, a, b, realisations),
                                      c.expected,
                                      0.035,
                                      "LOS frequency " << c.scenario << " " << c.d2d << " m");
        }

        // Calibration defaults and the LOS correlation distance d_clutter / 2.
        auto dense = CreateObject<ThreeGppIndoorFactoryChannelConditionModel>();
        dense->SetAttribute("Scenario", StringValue("DL"));
        NS_TEST_EXPECT_MSG_EQ(dense->GetClutterDensity(), 0.6, "dense r");
        NS_TEST_EXPECT_MSG_EQ(dense->GetClutterSize(), 2.0, "dense d_clutter");
        NS_TEST_EXPECT_MSG_EQ(dense->GetClutterHeight(), 6.0, "dense h_c");
        NS_TEST_EXPECT_MSG_EQ(dense->GetLosCorrelationDistance(), 1.0, "d_clutter / 2");
        NS_TEST_EXPECT_MSG_EQ(dense->GetLosField().GetCorrelationDistance(), 1.0, "field d_c");
        dense->SetAttribute("LosCorrelationDistance", DoubleValue(3.0));
        NS_TEST_EXPECT_MSG_EQ(dense->GetLosField().GetCorrelationDistance(),
                              3.0,
                              "redrawn when the attribute changes");

        // Spatial consistency and reciprocity: the state is a function of the positions.
        auto model = CreateObject<ThreeGppIndoorFactoryChannelConditionModel>();
        model->AssignStreams(stream);
        int flips = 0;
        int links = 0;
        for (int i = 0; i < 200; ++i)
        {
            auto a = NodeAt(7.0 * i, 0.0, 1.5);
            auto b = NodeAt(7.0 * i + 12.0, 5.0, 1.5);
            auto bMoved = NodeAt(7.0 * i + 12.05, 5.0, 1.5); // a robot's 5 cm
            auto c1 = model->GetChannelCondition(a, b);
            auto c2 = model->GetChannelCondition(b, a);
            auto c3 = model->GetChannelCondition(a, b);
            NS_TEST_EXPECT_MSG_EQ(c1->GetLosCondition(), c2->GetLosCondition(), "reciprocal");
            NS_TEST_EXPECT_MSG_EQ(c1->GetLosCondition(), c3->GetLosCondition(), "consistent");
            NS_TEST_EXPECT_MSG_EQ(c1->GetO2iCondition(), ChannelCondition::I2I, "indoor");
            flips += c1->IsLos() != model->GetChannelCondition(a, bMoved)->IsLos() ? 1 : 0;
            ++links;
        }
        // With d_c = 5 m a 5 cm move changes Z_los by ~0.03: only links right at their threshold
        // flip (an independent redraw would flip ~40 %).
        NS_TEST_EXPECT_MSG_LT(flips, links / 10, "small moves rarely flip the state");
    }
};

// -------------------------------------------------------------------------------------- fading

/// AR(1) Rayleigh fading: stationary power, lag-1 correlation rho, exact lazy catch-up.
class FadingTestCase : public TestCase
{
  public:
    FadingTestCase()
        : TestCase("Ar1RayleighFading: mean power 1, lag-1 autocorrelation rho, rho^g catch-up")
    {
    }

  private:
    /// Correlation estimates over links x steps, querying every `every` steps.
    struct Stats
    {
        double meanPower;
        double lag1;  //!< Re E[h_t conj(h_{t-1})] between consecutive queries
        double lag2;  //!< the same two queries apart
        double power; //!< correlation of |h|^2 between consecutive queries
    };

    Stats Measure(Ar1RayleighFading& fading, int links, int queries, int every)
    {
        std::vector<std::complex<double>> prev(links);
        std::vector<std::complex<double>> prev2(links);
        double sumP = 0.0;
        double sumP2 = 0.0;
        double lag1 = 0.0;
        double lag2 = 0.0;
        double pp = 0.0;
        double n1 = 0.0;
        double n2 = 0.0;
        for (int q = 0; q < queries; ++q)
        {
            for (int l = 0; l < links; ++l)
            {
                const auto h = fading.Gain(static_cast<uint32_t>(l), 1000u);
                NS_TEST_EXPECT_MSG_EQ_TOL(fading.Power(static_cast<uint32_t>(l), 1000u),
                                          std::norm(h),
                                          1e-15,
                                          "Power = |Gain|^2 within a step");
                sumP += std::norm(h);
                sumP2 += std::norm(h) * std::norm(h);
                if (q >= 1)
                {
                    lag1 += std::real(h * std::conj(prev[l]));
                    pp += std::norm(h) * std::norm(prev[l]);
                    n1 += 1.0;
                }
                if (q >= 2)
                {
                    lag2 += std::real(h * std::conj(prev2[l]));
                    n2 += 1.0;
                }
                prev2[l] = prev[l];
                prev[l] = h;
            }
            for (int s = 0; s < every; ++s)
            {
                fading.Advance();
            }
        }
        const double n = static_cast<double>(links) * queries;
        const double mean = sumP / n;
        const double var = sumP2 / n - mean * mean;
        // For Rayleigh fading corr(|h_t|^2, |h_s|^2) = |corr(h_t, h_s)|^2.
        return Stats{mean, lag1 / n1, lag2 / n2, (pp / n1 - mean * mean) / var};
    }

    void DoRun() override
    {
        SeedRun(3);
        const double rho = FadingRho(3.0, 6e9, 5e-3);
        for (bool lazy : {true, false})
        {
            Ar1RayleighFading fading(rho, lazy);
            fading.AssignStreams(lazy ? 200 : 201);
            // 100 000 samples: standard errors ~0.004 for the means and correlations.
            const Stats s = Measure(fading, 200, 500, 1);
            const std::string mode = lazy ? "lazy" : "eager";
            NS_TEST_EXPECT_MSG_EQ_TOL(s.meanPower, 1.0, 0.02, mode << ": E|h|^2");
            NS_TEST_EXPECT_MSG_EQ_TOL(s.lag1, rho, 0.02, mode << ": lag-1 autocorrelation");
            NS_TEST_EXPECT_MSG_EQ_TOL(s.lag2, rho * rho, 0.02, mode << ": lag-2 autocorrelation");
            NS_TEST_EXPECT_MSG_EQ_TOL(s.power, rho * rho, 0.03, mode << ": |h|^2 correlation");
            NS_TEST_EXPECT_MSG_EQ(fading.GetNLinks(), 200u, mode << ": links");
        }

        // Lazy catch-up over gaps of 3 steps with rho = 0.9: consecutive queries correlate as
        // rho^3 = 0.729, exactly as if every step had been simulated.
        {
            Ar1RayleighFading fading(0.9, true);
            fading.AssignStreams(202);
            const Stats s = Measure(fading, 200, 500, 3);
            NS_TEST_EXPECT_MSG_EQ_TOL(s.meanPower, 1.0, 0.03, "gap 3: E|h|^2");
            NS_TEST_EXPECT_MSG_EQ_TOL(s.lag1, 0.729, 0.02, "gap 3: rho^3");
        }

        // A change of rho inside a gap: 2 steps at 0.9 then 1 at 0.5 give 0.9^2 * 0.5 = 0.405.
        {
            Ar1RayleighFading fading(0.9, true);
            fading.AssignStreams(203);
            double sum = 0.0;
            double sumP = 0.0;
            const int links = 20000;
            std::vector<std::complex<double>> h0(links);
            for (int l = 0; l < links; ++l)
            {
                h0[l] = fading.Gain(static_cast<uint32_t>(l), 0u);
            }
            fading.Advance();
            fading.Advance();
            fading.Advance(0.5);
            for (int l = 0; l < links; ++l)
            {
                const auto h = fading.Gain(static_cast<uint32_t>(l), 0u);
                sum += std::real(h * std::conj(h0[l]));
                sumP += std::norm(h);
            }
            NS_TEST_EXPECT_MSG_EQ_TOL(sum / links, 0.405, 0.03, "rho change settles old steps");
            NS_TEST_EXPECT_MSG_EQ_TOL(sumP / links, 1.0, 0.05, "power after rho change");
            NS_TEST_EXPECT_MSG_EQ(fading.GetStep(), 3u, "steps counted");
            fading.Reset();
            NS_TEST_EXPECT_MSG_EQ(fading.GetNLinks(), 0u, "reset");
        }
        NS_TEST_EXPECT_MSG_EQ(ThrowsInvalid([] { Ar1RayleighFading f(1.5); }), true, "|rho| <= 1");
    }
};

// ------------------------------------------------------------------------- propagation loss

/// The ns-3 propagation loss model on two ConstantPositionMobilityModels.
class PropagationLossTestCase : public TestCase
{
  public:
    PropagationLossTestCase()
        : TestCase("ThreeGppIndoorFactoryPropagationLossModel: DoCalcRxPower = P - PL - X")
    {
    }

  private:
    void DoRun() override
    {
        SeedRun(5);
        auto a = NodeAt(0.0, 0.0, 1.5);
        auto b = NodeAt(10.0, 0.0, 1.5);
        auto c = NodeAt(60.0, 80.0, 1.5); // 100 m from a

        // Deterministic part: LOS state forced, no shadowing.
        auto model = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
        model->SetAttribute("Frequency", DoubleValue(6e9));
        model->SetAttribute("ShadowingEnabled", BooleanValue(false));
        model->SetAttribute("ChannelConditionModel",
                            PointerValue(CreateObject<AlwaysLosChannelConditionModel>()));
        NS_TEST_EXPECT_MSG_EQ_TOL(model->CalcRxPower(-10.0, a, b),
                                  -10.0 - 68.124874,
                                  1e-6,
                                  "LOS 10 m");
        model->SetAttribute("ChannelConditionModel",
                            PointerValue(CreateObject<NeverLosChannelConditionModel>()));
        NS_TEST_EXPECT_MSG_EQ_TOL(model->CalcRxPower(0.0, a, b), -74.063025, 1e-6, "SL 10 m");
        model->SetAttribute("Scenario", StringValue("DL"));
        NS_TEST_EXPECT_MSG_EQ_TOL(model->CalcRxPower(0.0, a, c), -105.563025, 1e-6, "DL 100 m");
        NS_TEST_EXPECT_MSG_EQ_TOL(model->GetLoss(a, c), 105.563025, 1e-6, "GetLoss");
        NS_TEST_EXPECT_MSG_EQ_TOL(model->CalcRxPower(0.0, a, a),
                                  -48.563025,
                                  1e-6,
                                  "0 m clamped to 1 m");
        // 3-D distance from the heights: 10 m across, 6.5 m up.
        auto high = NodeAt(10.0, 0.0, 8.0);
        NS_TEST_EXPECT_MSG_EQ_TOL(model->GetPathloss(a, high),
                                  InfPathlossNlos(std::hypot(10.0, 6.5), kFc, InfScenario::DL),
                                  1e-12,
                                  "d_3D");

        // Shadowing: X = sigma Z_sh, reciprocal, and its std is the table's sigma.
        for (const auto& [cond, scenario, sigma] :
             std::vector<std::tuple<Ptr<ChannelConditionModel>, std::string, double>>{
                 {CreateObject<AlwaysLosChannelConditionModel>(), "SL", 4.3},
                 {CreateObject<NeverLosChannelConditionModel>(), "DL", 7.2}})
        {
            auto shadowed = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
            shadowed->SetAttribute("Scenario", StringValue(scenario));
            shadowed->SetAttribute("ChannelConditionModel", PointerValue(cond));
            NS_TEST_EXPECT_MSG_EQ(shadowed->AssignStreams(300), 2, "own streams only");
            const double pl = cond->GetChannelCondition(a, b)->IsLos()
                                  ? InfPathlossLos(10.0, kFc)
                                  : InfPathlossNlos(10.0, kFc, InfFromName(scenario));
            const double z = shadowed->GetShadowField().LinkValue(0.0, 0.0, 10.0, 0.0);
            NS_TEST_EXPECT_MSG_EQ_TOL(shadowed->CalcRxPower(-10.0, a, b),
                                      -10.0 - pl - sigma * z,
                                      1e-9,
                                      scenario << ": P - PL - sigma Z");
            NS_TEST_EXPECT_MSG_EQ_TOL(shadowed->CalcRxPower(-10.0, b, a),
                                      shadowed->CalcRxPower(-10.0, a, b),
                                      1e-12,
                                      "reciprocal");
            NS_TEST_EXPECT_MSG_EQ_TOL(shadowed->GetShadowing(a, b), sigma * z, 1e-12, "X");
            double sum = 0.0;
            double sumSq = 0.0;
            const int realisations = 3000;
            for (int r = 0; r < realisations; ++r)
            {
                shadowed->NewRealisation();
                const double x = shadowed->GetShadowing(a, b);
                sum += x;
                sumSq += x * x;
            }
            const double mean = sum / realisations;
            const double std = std::sqrt(sumSq / realisations - mean * mean);
            // Standard error of the std estimate: sigma / sqrt(2 n) = 1.3 % of sigma.
            NS_TEST_EXPECT_MSG_EQ_TOL(std / sigma, 1.0, 0.05, scenario << ": shadow std");
            NS_TEST_EXPECT_MSG_EQ_TOL(mean / sigma, 0.0, 0.08, scenario << ": shadow mean");
        }

        // The default condition model: the InF one, created on demand with the same scenario,
        // numbered by AssignStreams; loss = formula for the drawn state plus sigma(state) Z.
        auto full = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
        full->SetAttribute("Scenario", StringValue("dense"));
        NS_TEST_EXPECT_MSG_EQ(full->AssignStreams(400), 4, "own + default condition streams");
        PointerValue pv;
        full->GetAttribute("ChannelConditionModel", pv);
        auto inf = pv.Get<ThreeGppIndoorFactoryChannelConditionModel>();
        NS_TEST_ASSERT_MSG_NE(inf, nullptr, "default condition model type");
        NS_TEST_EXPECT_MSG_EQ(inf->GetScenario(), "DL", "default condition model scenario");
        full->SetAttribute("Scenario", StringValue("HH"));
        NS_TEST_EXPECT_MSG_EQ(inf->GetScenario(), "HH", "the owned model follows Scenario");
        full->SetAttribute("Scenario", StringValue("DL"));
        int losLinks = 0;
        for (int i = 0; i < 50; ++i)
        {
            auto rx = NodeAt(1.3 * i, 0.7 * i, 1.5);
            const bool los = inf->GetChannelCondition(a, rx)->IsLos();
            losLinks += los ? 1 : 0;
            const double d = std::hypot(1.3 * i, 0.7 * i);
            const double expected = InfPathloss(d, kFc, InfScenario::DL, los) +
                                    InfShadowStdDb(InfScenario::DL, los) *
                                        full->GetShadowField().LinkValue(0, 0, 1.3 * i, 0.7 * i);
            NS_TEST_EXPECT_MSG_EQ_TOL(full->GetLoss(a, rx), expected, 1e-9, "link " << i);
        }
        // A node that moves gets the loss of its new position (the field memo follows it).
        auto mover = CreateObject<ConstantPositionMobilityModel>();
        for (double x : {3.0, 3.4, 17.0})
        {
            mover->SetPosition(Vector(x, 2.0, 1.5));
            const bool los = inf->GetChannelCondition(a, mover)->IsLos();
            const double expected =
                InfPathloss(std::hypot(x, 2.0), kFc, InfScenario::DL, los) +
                InfShadowStdDb(InfScenario::DL, los) *
                    full->GetShadowField().LinkValue(0.0, 0.0, x, 2.0);
            NS_TEST_EXPECT_MSG_EQ_TOL(full->GetLoss(a, mover), expected, 1e-9, "moved to " << x);
            const bool rule =
                inf->GetLosLinkValue(a, mover) < InverseNormalCdf(inf->ComputePlos(a, mover));
            NS_TEST_EXPECT_MSG_EQ(los, rule, "LOS rule at " << x);
        }
        NS_TEST_EXPECT_MSG_GT(losLinks, 0, "some LOS links");
        NS_TEST_EXPECT_MSG_LT(losLinks, 50, "some NLOS links");

        // The same streams give the same realisation (reproducible runs).
        auto twin1 = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
        auto twin2 = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
        twin1->AssignStreams(500);
        twin2->AssignStreams(500);
        NS_TEST_EXPECT_MSG_EQ(twin1->GetLoss(a, c), twin2->GetLoss(a, c), "reproducible");
    }

    /// @param name a scenario name @return the scenario
    static InfScenario InfFromName(const std::string& name)
    {
        return InfScenarioFromString(name);
    }
};

/// CalcRxPowerMatrix gives CalcRxPower's numbers bit for bit (the refresh of 10^6 links uses it).
class RxPowerMatrixTestCase : public TestCase
{
  public:
    RxPowerMatrixTestCase()
        : TestCase("CalcRxPowerMatrix: identical to CalcRxPower per link, fallback included")
    {
    }

  private:
    void DoRun() override
    {
        SeedRun(11);
        auto u = CreateObject<UniformRandomVariable>();
        u->SetStream(900);
        std::vector<Ptr<MobilityModel>> tx;
        std::vector<Ptr<MobilityModel>> rx;
        // Enough links (3 x 10^4 per setting) that some fall near the LOS threshold, where the
        // matrix path decides by the exact computation instead of its bracket.
        for (int k = 0; k < 150; ++k)
        {
            tx.push_back(NodeAt(u->GetValue(0.0, 200.0), u->GetValue(0.0, 100.0), 8.0));
        }
        for (int k = 0; k < 200; ++k)
        {
            rx.push_back(NodeAt(u->GetValue(0.0, 200.0), u->GetValue(0.0, 100.0), 1.5));
        }
        const Vector above = tx[3]->GetPosition();
        rx.push_back(NodeAt(above.x, above.y, 1.5)); // d_2D = 0
        for (const std::string scenario : {"SL", "DL", "DH"})
        {
            for (const bool shadowing : {true, false})
            {
                auto model = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
                model->SetScenario(scenario);
                model->SetAttribute("ShadowingEnabled", BooleanValue(shadowing));
                model->AssignStreams(910);
                std::vector<double> out(tx.size() * rx.size());
                model->CalcRxPowerMatrix(10.0, tx, rx, out.data());
                int los = 0;
                auto cond = model->GetChannelConditionModel();
                for (size_t i = 0; i < rx.size(); ++i)
                {
                    for (size_t j = 0; j < tx.size(); ++j)
                    {
                        // Exact equality: a difference of one ulp would be a different formula.
                        NS_TEST_EXPECT_MSG_EQ(out[i * tx.size() + j],
                                              model->CalcRxPower(10.0, tx[j], rx[i]),
                                              scenario << " shadowing " << shadowing << " link "
                                                       << j << " -> " << i);
                        los += cond->GetChannelCondition(tx[j], rx[i])->IsLos() ? 1 : 0;
                    }
                }
                NS_TEST_EXPECT_MSG_GT(los, 0, scenario << ": some LOS links");
                NS_TEST_EXPECT_MSG_LT(los,
                                      static_cast<int>(out.size()),
                                      scenario << ": some NLOS links");
            }
        }
        // Another condition model: the per-link fallback, still CalcRxPower's numbers.
        auto model = CreateObject<ThreeGppIndoorFactoryPropagationLossModel>();
        model->SetChannelConditionModel(CreateObject<AlwaysLosChannelConditionModel>());
        model->AssignStreams(920);
        std::vector<double> out(tx.size() * rx.size());
        model->CalcRxPowerMatrix(10.0, tx, rx, out.data());
        NS_TEST_EXPECT_MSG_EQ(out[5 * tx.size() + 7],
                              model->CalcRxPower(10.0, tx[7], rx[5]),
                              "fallback");
    }
};

/// All the fedmarl InF model tests.
class FedmarlInfModelsTestSuite : public TestSuite
{
  public:
    FedmarlInfModelsTestSuite()
        : TestSuite("fedmarl-inf-models", Type::UNIT)
    {
        AddTestCase(new InfFormulasTestCase, Duration::QUICK);
        AddTestCase(new SpatialFieldTestCase, Duration::QUICK);
        AddTestCase(new ChannelConditionTestCase, Duration::QUICK);
        AddTestCase(new FadingTestCase, Duration::QUICK);
        AddTestCase(new PropagationLossTestCase, Duration::QUICK);
        AddTestCase(new RxPowerMatrixTestCase, Duration::QUICK);
    }
};

/// Static instance: registers the suite with the test runner.
FedmarlInfModelsTestSuite g_fedmarlInfModelsTestSuite;

} // namespace

int
main(int argc, char** argv)
{
    return TestRunner::Run(argc, argv);
}
