/*
 * fedmarl-ns3: 3GPP TR 38.901 Indoor Factory (InF) channel formulas and link-rate formulas.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "inf-channel.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <numbers>
#include <stdexcept>

namespace ns3
{
namespace fedmarl
{

namespace
{

/// One row of Table 7.4.1-1: PL = a + b log10(d_3D) + c log10(fc), and the shadow std (dB).
struct PathlossRow
{
    double a;
    double b;
    double c;
    double sigmaDb;
};

constexpr PathlossRow kLos{31.84, 21.50, 19.00, 4.3};
constexpr PathlossRow kSl{33.00, 25.50, 20.00, 5.7};
constexpr PathlossRow kDl{18.60, 35.70, 20.00, 7.2};
constexpr PathlossRow kSh{32.40, 23.00, 20.00, 5.9};
constexpr PathlossRow kDh{33.63, 21.90, 20.00, 4.0};

/// The NLOS row of a scenario; HH has none and uses the LOS row.
const PathlossRow&
NlosRow(InfScenario scenario)
{
    switch (scenario)
    {
    case InfScenario::SL:
        return kSl;
    case InfScenario::DL:
        return kDl;
    case InfScenario::SH:
        return kSh;
    case InfScenario::DH:
        return kDh;
    case InfScenario::HH:
        return kLos;
    }
    throw std::invalid_argument("InfScenario: value out of range");
}

/// Evaluate one row at an already clamped distance. The same summation order as the twin
/// (a + b log10 d + c log10 fc), so the two agree to the last few ulps.
double
EvalRow(const PathlossRow& row, double d3dClamped, double fcGhz)
{
    return row.a + row.b * std::log10(d3dClamped) + row.c * std::log10(fcGhz);
}

std::string
ToLower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) {
        return static_cast<char>(std::tolower(ch));
    });
    return s;
}

} // namespace

InfScenario
InfScenarioFromString(const std::string& name)
{
    const std::string s = ToLower(name);
    if (s == "sl" || s == "sparse")
    {
        return InfScenario::SL;
    }
    if (s == "dl" || s == "dense")
    {
        return InfScenario::DL;
    }
    if (s == "sh" || s == "sparse-high")
    {
        return InfScenario::SH;
    }
    if (s == "dh" || s == "dense-high")
    {
        return InfScenario::DH;
    }
    if (s == "hh" || s == "high-high")
    {
        return InfScenario::HH;
    }
    throw std::invalid_argument("unknown InF scenario '" + name +
                                "'; expected SL, DL, SH, DH, HH or sparse, dense, sparse-high, "
                                "dense-high, high-high");
}

std::string
InfScenarioToString(InfScenario scenario)
{
    switch (scenario)
    {
    case InfScenario::SL:
        return "SL";
    case InfScenario::DL:
        return "DL";
    case InfScenario::SH:
        return "SH";
    case InfScenario::DH:
        return "DH";
    case InfScenario::HH:
        return "HH";
    }
    throw std::invalid_argument("InfScenario: value out of range");
}

bool
InfIsDense(InfScenario scenario)
{
    return scenario == InfScenario::DL || scenario == InfScenario::DH;
}

InfClutter
InfCalibrationClutter(InfScenario scenario)
{
    if (InfIsDense(scenario))
    {
        return InfClutter{0.6, 2.0, 6.0};
    }
    return InfClutter{0.2, 10.0, 2.0};
}

double
InfClampDistance3d(double d3d)
{
    return std::clamp(d3d, kInfMinDistance3d, kInfMaxDistance3d);
}

double
InfPathlossLos(double d3d, double fcGhz)
{
    return EvalRow(kLos, InfClampDistance3d(d3d), fcGhz);
}

double
InfPathlossNlos(double d3d, double fcGhz, InfScenario scenario)
{
    const double d = InfClampDistance3d(d3d);
    const double los = EvalRow(kLos, d, fcGhz);
    if (scenario == InfScenario::HH)
    {
        return los;
    }
    // An NLOS link is never better than the LOS one at the same distance (the max() rules); InF-DL
    // is also floored by InF-SL, because its steeper slope makes it optimistic below ~26 m.
    double pl = std::max(EvalRow(NlosRow(scenario), d, fcGhz), los);
    if (scenario == InfScenario::DL)
    {
        pl = std::max(pl, EvalRow(kSl, d, fcGhz));
    }
    return pl;
}

double
InfPathloss(double d3d, double fcGhz, InfScenario scenario, bool los)
{
    return los ? InfPathlossLos(d3d, fcGhz) : InfPathlossNlos(d3d, fcGhz, scenario);
}

double
InfShadowStdDb(InfScenario scenario, bool los)
{
    return los ? kLos.sigmaDb : NlosRow(scenario).sigmaDb;
}

double
InfLosDecayDistance(InfScenario scenario,
                    double r,
                    double dClutter,
                    double hC,
                    double hBs,
                    double hUt)
{
    if (scenario == InfScenario::HH)
    {
        return std::numeric_limits<double>::infinity();
    }
    if (!(r > 0.0 && r < 1.0))
    {
        throw std::invalid_argument("InF LOS probability: clutter density r must be in (0, 1)");
    }
    if (!(dClutter > 0.0))
    {
        throw std::invalid_argument("InF LOS probability: clutter size must be > 0 m");
    }
    double k = -dClutter / std::log(1.0 - r);
    if (scenario == InfScenario::SH || scenario == InfScenario::DH)
    {
        // The high-BS scenarios stretch the decay by how far the BS sees over the clutter; the
        // ratio is only meaningful (and positive) when the BS is above and the UT below it.
        if (!(hBs > hC && hC > hUt))
        {
            throw std::invalid_argument(
                "InF-" + InfScenarioToString(scenario) +
                " LOS probability needs h_BS > h_c > h_UT, got h_BS = " + std::to_string(hBs) +
                ", h_c = " + std::to_string(hC) + ", h_UT = " + std::to_string(hUt) + " m");
        }
        k *= (hBs - hUt) / (hC - hUt);
    }
    return k;
}

double
InfLosProbability(double d2d,
                  InfScenario scenario,
                  double r,
                  double dClutter,
                  double hC,
                  double hBs,
                  double hUt)
{
    if (scenario == InfScenario::HH)
    {
        return 1.0;
    }
    return std::exp(-d2d / InfLosDecayDistance(scenario, r, dClutter, hC, hBs, hUt));
}

double
NoisePowerW(double bandwidthHz, double nfDb)
{
    const double dbm = -174.0 + nfDb + 10.0 * std::log10(bandwidthHz);
    return DbmToW(dbm);
}

double
DbmToW(double dbm)
{
    return std::pow(10.0, (dbm - 30.0) / 10.0);
}

double
FadingRho(double speedMps, double fcHz, double dtS)
{
    const double dopplerHz = speedMps * fcHz / kSpeedOfLight;
    // std::cyl_bessel_j is the C++17 special function J_nu(x); nu = 0 gives Clarke's J0.
    return std::cyl_bessel_j(0.0, 2.0 * std::numbers::pi * dopplerHz * dtS);
}

double
InverseNormalCdf(double p)
{
    // P. J. Acklam, "An algorithm for computing the inverse normal cumulative distribution
    // function" (2003): rational approximations in a central region and two tails, relative
    // error below 1.15e-9, followed by one step of Halley's method on Phi(x) - p using erfc,
    // which brings it to about machine precision (~1e-15 relative in double).
    if (std::isnan(p) || p < 0.0 || p > 1.0)
    {
        return std::numeric_limits<double>::quiet_NaN();
    }
    if (p == 0.0)
    {
        return -std::numeric_limits<double>::infinity();
    }
    if (p == 1.0)
    {
        return std::numeric_limits<double>::infinity();
    }
    if (p > 0.5)
    {
        // 1 - p is exact for p in [0.5, 1] (Sterbenz), so the upper half loses nothing by
        // symmetry, while Phi(x) - p near 1 in the Halley step would cancel badly.
        return -InverseNormalCdf(1.0 - p);
    }

    static constexpr std::array<double, 6> a{-3.969683028665376e+01,
                                             2.209460984245205e+02,
                                             -2.759285104469687e+02,
                                             1.383577518672690e+02,
                                             -3.066479806614716e+01,
                                             2.506628277459239e+00};
    static constexpr std::array<double, 5> b{-5.447609879822406e+01,
                                             1.615858368580409e+02,
                                             -1.556989798598866e+02,
                                             6.680131188771972e+01,
                                             -1.328068155288572e+01};
    static constexpr std::array<double, 6> c{-7.784894002430293e-03,
                                             -3.223964580411365e-01,
                                             -2.400758277161838e+00,
                                             -2.549732539343734e+00,
                                             4.374664141464968e+00,
                                             2.938163982698783e+00};
    static constexpr std::array<double, 4> d{7.784695709041462e-03,
                                             3.224671290700398e-01,
                                             2.445134137142996e+00,
                                             3.754408661907416e+00};
    constexpr double pLow = 0.02425;

    double x;
    if (p < pLow)
    {
        const double q = std::sqrt(-2.0 * std::log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    else
    {
        const double q = p - 0.5;
        const double r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }

    // Halley refinement: f(x) = Phi(x) - p, f' = phi(x), f'' = -x phi(x).
    const double e = 0.5 * std::erfc(-x / std::numbers::sqrt2) - p;
    const double u = e * std::sqrt(2.0 * std::numbers::pi) * std::exp(0.5 * x * x);
    const double refined = x - u / (1.0 + 0.5 * x * u);
    // Deep in the tail (p below ~1e-300) exp(x^2/2) overflows; keep Acklam's value there.
    return std::isfinite(refined) ? refined : x;
}

double
QInv(double eps)
{
    return -InverseNormalCdf(eps);
}

double
ShannonSe(double sinr)
{
    // log1p keeps full relative precision at very low SINR, where log2(1 + g) would round 1 + g.
    return std::log1p(sinr) / std::numbers::ln2;
}

double
FblSe(double sinr, double blocklength, double eps)
{
    const double onePlus = 1.0 + sinr;
    // Channel dispersion V = 1 - (1 + g)^-2, written as g (2 + g) / (1 + g)^2 so it does not
    // cancel at low SINR (same value otherwise).
    const double v = sinr * (2.0 + sinr) / (onePlus * onePlus);
    const double penalty = std::sqrt(v / blocklength) * (QInv(eps) * std::numbers::log2e);
    return std::max(ShannonSe(sinr) - penalty, 0.0);
}

double
RewardEq13(const std::vector<double>& rates, double rMin, double lambdaRate, double lambdaPenalty)
{
    double sum = 0.0;
    double shortfall = 0.0;
    for (double r : rates)
    {
        sum += r;
        shortfall += std::max(rMin - r, 0.0);
    }
    return lambdaRate * sum - lambdaPenalty * shortfall;
}

} // namespace fedmarl
} // namespace ns3
