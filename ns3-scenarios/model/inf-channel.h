/*
 * fedmarl-ns3: 3GPP TR 38.901 Indoor Factory (InF) channel formulas and link-rate formulas.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_INF_CHANNEL_H
#define FEDMARL_INF_CHANNEL_H

#include <string>
#include <vector>

/**
 * @file
 * @ingroup fedmarl
 * The closed-form channel and rate formulas of the inx-factory scenario, as plain functions.
 *
 * They are the C++ twins of pybridge/channel/inf.py, function by function, in double precision,
 * and are cross-checked against it call by call (tests/ns3/test_ns3_models.py). The ns-3 classes
 * (ThreeGppIndoorFactoryPropagationLossModel, ThreeGppIndoorFactoryChannelConditionModel) are
 * thin layers over these, so a formula lives in exactly one place on each side.
 *
 * Sources: 3GPP TR 38.901 v16.1.0 Table 7.4.1-1 (InF path loss and shadow-fading std),
 * Table 7.4.2-1 (InF LOS probability), Table 7.2-4 (InF calibration); Polyanskiy, Poor, Verdu
 * (2010) for the finite-blocklength normal approximation; Clarke/Jakes for J0 fading correlation.
 */

namespace ns3
{
namespace fedmarl
{

/// Speed of light in vacuum, m/s.
constexpr double kSpeedOfLight = 299792458.0;

/// Validity range of the InF path-loss formulas (Table 7.4.1-1); d_3D is clamped into it, m.
constexpr double kInfMinDistance3d = 1.0;
constexpr double kInfMaxDistance3d = 600.0;

/**
 * The InF sub-scenarios of TR 38.901: clutter density (Sparse/Dense) and base-station height
 * relative to the clutter (Low/High). HH has both ends above the clutter and is always LOS.
 */
enum class InfScenario
{
    SL, //!< sparse clutter, low BS
    DL, //!< dense clutter, low BS
    SH, //!< sparse clutter, high BS
    DH, //!< dense clutter, high BS
    HH  //!< high transmitter and high receiver (always LOS)
};

/**
 * Parse an InF sub-scenario: "SL", "DL", "SH", "DH", "HH" (any case), or one of the twin's
 * clutter names "sparse", "dense", "sparse-high", "dense-high", "high-high".
 * @param name the scenario or clutter name
 * @return the scenario
 * @throws std::invalid_argument for any other name
 */
InfScenario InfScenarioFromString(const std::string& name);

/**
 * @param scenario an InF sub-scenario
 * @return its two-letter name ("SL", ...)
 */
std::string InfScenarioToString(InfScenario scenario);

/**
 * @param scenario an InF sub-scenario
 * @return true for the dense-clutter scenarios (DL, DH), whose calibration clutter parameters
 *         are the dense ones of Table 7.2-4
 */
bool InfIsDense(InfScenario scenario);

/// Clutter parameters of an InF scenario (Table 7.2-4 calibration values).
struct InfClutter
{
    double density; //!< clutter density r
    double size;    //!< clutter size d_clutter, m
    double height;  //!< effective clutter height h_c, m
};

/**
 * The calibration clutter of Table 7.2-4: dense (r = 0.6, d_clutter = 2 m, h_c = 6 m) for DL and
 * DH, sparse (r = 0.2, d_clutter = 10 m, h_c = 2 m) for SL, SH and HH, as in the twin.
 * @param scenario an InF sub-scenario
 * @return the clutter parameters
 */
InfClutter InfCalibrationClutter(InfScenario scenario);

/**
 * Clamp a 3-D distance into the validity range [1, 600] m of Table 7.4.1-1. In-X links are often
 * shorter than 1 m; the twin clamps the same way.
 * @param d3d the 3-D distance, m
 * @return the clamped distance, m
 */
double InfClampDistance3d(double d3d);

/**
 * InF-LOS path loss 31.84 + 21.50 log10(d_3D) + 19.00 log10(fc), d_3D clamped to [1, 600] m.
 * @param d3d the 3-D distance, m
 * @param fcGhz the carrier frequency, GHz
 * @return the path loss, dB
 */
double InfPathlossLos(double d3d, double fcGhz);

/**
 * NLOS path loss of an InF sub-scenario with the max() rules of Table 7.4.1-1:
 * SL, SH, DH: max(PL, PL_LOS); DL: max(PL, PL_LOS, PL_SL); HH has no NLOS state (LOS formula).
 * @param d3d the 3-D distance, m (clamped to [1, 600] m)
 * @param fcGhz the carrier frequency, GHz
 * @param scenario the InF sub-scenario
 * @return the path loss, dB
 */
double InfPathlossNlos(double d3d, double fcGhz, InfScenario scenario);

/**
 * Path loss of a link in a given LOS state: InfPathlossLos if los, else InfPathlossNlos.
 * @param d3d the 3-D distance, m
 * @param fcGhz the carrier frequency, GHz
 * @param scenario the InF sub-scenario
 * @param los the LOS state of the link
 * @return the path loss, dB
 */
double InfPathloss(double d3d, double fcGhz, InfScenario scenario, bool los);

/**
 * Shadow-fading standard deviation of Table 7.4.1-1: 4.3 dB for LOS links; for NLOS links 5.7
 * (SL), 7.2 (DL), 5.9 (SH), 4.0 (DH); HH is LOS only (4.3).
 * @param scenario the InF sub-scenario
 * @param los the LOS state
 * @return the standard deviation, dB
 */
double InfShadowStdDb(InfScenario scenario, bool los);

/**
 * The decay distance k_subsce of P_LOS = exp(-d_2D / k_subsce) (Table 7.4.2-1):
 * k = -d_clutter / ln(1 - r), times (h_BS - h_UT) / (h_c - h_UT) for SH and DH.
 * @param scenario the InF sub-scenario (not HH, which has no decay)
 * @param r the clutter density, in (0, 1)
 * @param dClutter the clutter size, m
 * @param hC the effective clutter height, m
 * @param hBs the base-station (access-point) antenna height, m
 * @param hUt the user-terminal (device) antenna height, m
 * @return k_subsce, m (+infinity for HH)
 * @throws std::invalid_argument for r outside (0, 1), dClutter <= 0, or, for SH and DH,
 *         heights that do not satisfy h_BS > h_c > h_UT (the premise of the high-BS scenarios;
 *         the twin's config enforces the same)
 */
double InfLosDecayDistance(InfScenario scenario,
                           double r,
                           double dClutter,
                           double hC,
                           double hBs,
                           double hUt);

/**
 * InF LOS probability of Table 7.4.2-1: exp(-d_2D / k_subsce); 1 for HH.
 * @param d2d the 2-D (horizontal) distance, m
 * @param scenario the InF sub-scenario
 * @param r the clutter density, in (0, 1)
 * @param dClutter the clutter size, m
 * @param hC the effective clutter height, m
 * @param hBs the base-station antenna height, m
 * @param hUt the user-terminal antenna height, m
 * @return the LOS probability in [0, 1]
 */
double InfLosProbability(double d2d,
                         InfScenario scenario,
                         double r,
                         double dClutter,
                         double hC,
                         double hBs,
                         double hUt);

/**
 * Thermal noise (-174 dBm/Hz) plus noise figure over a bandwidth.
 * @param bandwidthHz the bandwidth, Hz
 * @param nfDb the receiver noise figure, dB
 * @return the noise power, W
 */
double NoisePowerW(double bandwidthHz, double nfDb);

/**
 * @param dbm a power, dBm
 * @return the same power, W
 */
double DbmToW(double dbm);

/**
 * AR(1) coefficient of Rayleigh fading sampled every dt: Jakes' autocorrelation J0(2 pi f_D dt)
 * with the maximum Doppler shift f_D = v fc / c.
 * @param speedMps the speed, m/s
 * @param fcHz the carrier frequency, Hz
 * @param dtS the sampling interval, s
 * @return rho (may be negative for long intervals, as J0 is)
 */
double FadingRho(double speedMps, double fcHz, double dtS);

/**
 * Inverse of the standard normal CDF, Phi^-1(p).
 * @param p a probability in [0, 1]
 * @return x with Phi(x) = p (-inf at 0, +inf at 1); NaN outside [0, 1]
 */
double InverseNormalCdf(double p);

/**
 * Inverse of the Gaussian Q function, Q^-1(eps) = -Phi^-1(eps).
 * @param eps a probability in [0, 1]
 * @return Q^-1(eps)
 */
double QInv(double eps);

/**
 * Shannon spectral efficiency log2(1 + SINR).
 * @param sinr the linear SINR (>= 0)
 * @return bps/Hz
 */
double ShannonSe(double sinr);

/**
 * Finite-blocklength spectral efficiency (normal approximation), clamped at 0:
 * log2(1 + g) - sqrt(V / l) Q^-1(eps) log2(e), V = 1 - (1 + g)^-2.
 * @param sinr the linear SINR g (>= 0)
 * @param blocklength the blocklength l, channel uses
 * @param eps the block error probability
 * @return bps/Hz
 */
double FblSe(double sinr, double blocklength, double eps);

/**
 * Reward of reference 002 eq. (13) for one subnetwork, with the penalty applied to devices BELOW
 * the rate target (DESIGN.md): l1 sum_m r_m - l2 sum_m max(r_min - r_m, 0).
 * @param rates the devices' rates (any unit, the same as rMin)
 * @param rMin the rate target
 * @param lambdaRate the weight l1 of the sum rate
 * @param lambdaPenalty the weight l2 of the shortfall
 * @return the reward
 */
double RewardEq13(const std::vector<double>& rates,
                  double rMin,
                  double lambdaRate,
                  double lambdaPenalty);

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_INF_CHANNEL_H
