/*
 * fedmarl-ns3: the parameters of the inx-factory scenario binary.
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * The table below is the binary's declaration of its parameters: names, types, defaults,
 * ranges, choices, units, docs and sources equal pybridge/scenarios/inx_factory/config.py's
 * InxFactoryConfig field by field (Python checks that against --contract-json at connect time;
 * tests/ns3/test_ns3_scenario_binary.py checks it too). Parsing rules: common/scenario-params.cc.
 */

#include "inx-factory-params.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

namespace ns3
{
namespace fedmarl
{

namespace
{

/// The clutter names and their InF sub-scenarios (pybridge/channel/inf.py CLUTTER_SCENARIOS).
const std::map<std::string, std::string> kClutterScenarios = {{"sparse", "SL"},
                                                              {"dense", "DL"},
                                                              {"sparse-high", "SH"},
                                                              {"dense-high", "DH"},
                                                              {"high-high", "HH"}};

/// Robots per 180 m x 80 m tile before hall_tiles = auto adds tiles (ROBOTS_PER_TILE_AUTO).
constexpr double kRobotsPerTileAuto = 100.0;

ParamTable<InxFactoryParams>
BuildTable()
{
    using P = InxFactoryParams;
    ParamTable<P> t;
    // --- deployment
    t.Int("n_subnetworks", &P::n_subnetworks, 1, 20000,
          {"number of in-robot subnetworks N (agents)",
           "",
           "ref002"});
    t.Int("n_devices", &P::n_devices, 1, 64,
          {"devices per subnetwork M",
           "",
           "ref002 (Case I/II use M>=1)"});
    t.Int("n_channels", &P::n_channels, 1, 1024,
          {"shared orthogonal channels K",
           "",
           "ref002"});
    t.IntOrWord("hall_tiles", &P::hall_tiles, 1, 64, "auto",
          {"the hall is hall_tiles x hall_tiles copies of the 180 m x 80 m layout; auto: "
           "smallest that keeps <= 100 robots per tile",
           "",
           "ours"});
    t.Float("subnetwork_radius", &P::subnetwork_radius, 0.0, 10.0, true,
          {"devices lie uniformly in a disc of this radius around their access point",
           "m",
           "ref002"});
    t.Float("speed", &P::speed, 0.0, 30.0, false,
          {"robot speed along the alleys",
           "m/s",
           "ref002"});
    t.Float("min_separation", &P::min_separation, 0.1, 2.5, false,
          {"minimum robot centre-to-centre distance (at most the 2.5 m between opposite lanes)",
           "m",
           "ref002"});
    t.OptionalFloat("ap_height", &P::ap_height, 0.5, 30.0, false,
          {"access-point antenna height; default 1.5 m for the low-BS clutter types, 8 m for the"
           " high-BS ones",
           "m",
           "38.901 Table 7.2-4"});
    t.Float("device_height", &P::device_height, 0.5, 30.0, false,
          {"device antenna height",
           "m",
           "38.901 Table 7.2-4"});
    // --- radio
    t.Float("carrier_freq_ghz", &P::carrier_freq_ghz, 0.5, 100.0, false,
          {"carrier frequency",
           "GHz",
           "ref002"});
    t.Float("channel_bandwidth_hz", &P::channel_bandwidth_hz, 1e3, 1e9, false,
          {"bandwidth of each channel",
           "Hz",
           "ref002"});
    t.Float("tx_power_dbm", &P::tx_power_dbm, -60.0, 40.0, false,
          {"access-point transmit power",
           "dBm",
           "ref002"});
    t.Float("noise_figure_db", &P::noise_figure_db, 0.0, 30.0, false,
          {"receiver noise figure",
           "dB",
           "ref002"});
    t.Choice("clutter", &P::clutter, {"sparse", "dense", "sparse-high", "dense-high", "high-high"},
          {"InF clutter type: sparse=InF-SL, dense=InF-DL, sparse-high=InF-SH, dense-high=InF-"
           "DH, high-high=InF-HH",
           "",
           "ref002 (sparse)"});
    t.OptionalFloat("clutter_density", &P::clutter_density, 0.0, 1.0, true,
          {"clutter density r; default: calibration value of `clutter` (0.2 sparse, 0.6 dense)",
           "",
           "38.901 Table 7.2-4"});
    t.OptionalFloat("clutter_size", &P::clutter_size, 0.0, 100.0, true,
          {"clutter size d_clutter; default 10 m sparse, 2 m dense",
           "m",
           "38.901 Table 7.2-4"});
    t.OptionalFloat("clutter_height", &P::clutter_height, 0.0, 30.0, true,
          {"effective clutter height h_c; default 2 m sparse, 6 m dense",
           "m",
           "38.901 Table 7.2-4 / DESIGN.md"});
    t.Float("shadow_corr_distance", &P::shadow_corr_distance, 0.0, 1e3, true,
          {"shadowing decorrelation distance d_c",
           "m",
           "ref002 Table I; 38.901 Table 7.5-6"});
    t.OptionalFloat("los_corr_distance", &P::los_corr_distance, 0.0, 1e3, true,
          {"LOS-state correlation distance; default d_clutter / 2",
           "m",
           "38.901 Table 7.6.3.1-2"});
    t.Int("blocklength", &P::blocklength, 1, 10'000'000,
          {"finite-blocklength code length l in channel uses (a 32-byte packet at ~1 bit per "
           "channel use; not published in ref002)",
           "",
           "ours"});
    t.Float("error_prob", &P::error_prob, 0.0, 0.5, true,
          {"target decoding error probability epsilon (URLLC; not published in ref002)",
           "",
           "ours"});
    // --- decision process
    t.Float("step_duration", &P::step_duration, 0.0, 10.0, true,
          {"decision interval T",
           "s",
           "ref002"});
    t.Int("episode_steps", &P::episode_steps, 1, 10'000'000,
          {"decision steps per episode",
           "",
           "ref002"});
    t.Int("tau_max", &P::tau_max, 1, 10'000,
          {"a channel switch takes effect after U{1..tau_max} steps",
           "",
           "ref002"});
    t.Float("r_min", &P::r_min, 0.0, 100.0, false,
          {"minimum rate target",
           "bps/Hz",
           "ref002"});
    t.Float("lambda_rate", &P::lambda_rate, 0.0, 1e6, false,
          {"reward weight lambda_1 of the rate sum (eq. 13; not published)",
           "",
           "ours"});
    t.Float("lambda_penalty", &P::lambda_penalty, 0.0, 1e6, false,
          {"reward weight lambda_2 of the shortfall below r_min (eq. 13; not published)",
           "",
           "ours"});
    t.Choice("obs_quantity", &P::obs_quantity, {"sinr", "interference"},
          {"per-channel measurement: SINR (dB) the device would see, or interference-plus-noise "
           "power (dBm)",
           "",
           "ref002 eq. 11"});
    t.Choice("obs_reduce", &P::obs_reduce, {"full", "min", "mean", "max", "median"},
          {"reduction over a subnetwork's devices (full keeps all M: Case I; "
           "min/mean/max/median: Case II)",
           "",
           "ref002 eq. 12"});
    // --- packet level (the twin ignores these)
    t.Choice("traffic", &P::traffic, {"full-buffer", "poisson", "periodic"},
          {"ns-3 only: downlink traffic per device; full-buffer = infinite backlog (the twin's "
           "assumption), poisson / periodic = one packet per packet_interval on average / "
           "exactly",
           "",
           "ours"});
    t.Int("packet_size", &P::packet_size, 1, 65535,
          {"ns-3 only: packet payload (short URLLC packets)",
           "B",
           "ours"});
    t.Float("packet_interval", &P::packet_interval, 0.0, 10.0, true,
          {"ns-3 only: mean time between packets per device for poisson / periodic traffic",
           "s",
           "ours"});
    t.Int("queue_size", &P::queue_size, 1, 10'000'000,
          {"ns-3 only: DropTailQueue capacity per device",
           "packets",
           "ours"});
    // --- numerics
    t.Int("large_scale_update_steps", &P::large_scale_update_steps, 1, 10'000,
          {"positions, LOS states, path loss and shadowing are refreshed every this many steps "
           "(10 x 5 ms = 15 cm of travel, 1.5 % of d_c); fading every step",
           "",
           "ours"});
    t.Int("max_faded_interferers", &P::max_faded_interferers, 1, 100'000,
          {"per device, the strongest interferers get their own fading process; weaker ones add "
           "their mean power. Exact whenever N - 1 <= this value",
           "",
           "ours"});
    // --- twin only: ns-3 computes every link exactly (the packet level is the reference)
    t.Choice("interference_model", &P::interference_model, {"auto", "exact", "neighbour"},
          {"twin only: exact = every link's LOS, path loss and shadowing at every refresh; "
           "neighbour = near links exact, far links from separable endpoint fields with stated "
           "error (large_scale.py); auto = neighbour above N = 300",
           "",
           "ours"});
    t.Float("near_radius", &P::near_radius, 5.0, 1e5, false,
          {"twin only, neighbour model: links shorter than this are computed exactly (and the "
           "L+1 nearest at least)",
           "m",
           "ours"});
    t.Int("far_refresh_interval", &P::far_refresh_interval, 1, 10'000,
          {"twin only, neighbour model: far links' distance terms and the near/far split are "
           "rebuilt every this many large-scale refreshes",
           "",
           "ours"});
    t.OptionalInt("seed", &P::seed, 0, std::numeric_limits<int64_t>::max(),
          {"master seed: mobility, channel and switching-delay draws",
           "",
           "ours"});
    return t;
}

} // namespace

std::string
InxFactoryParams::InfScenario() const
{
    return kClutterScenarios.at(clutter);
}

namespace
{
/// The calibration clutter of the clutter type: dense for dense*, sparse otherwise
/// (InxFactoryConfig._clutter_default).
bool
DenseCalibration(const std::string& clutter)
{
    return clutter.rfind("dense", 0) == 0;
}
} // namespace

double
InxFactoryParams::ResolvedClutterDensity() const
{
    return clutter_density ? *clutter_density : (DenseCalibration(clutter) ? 0.6 : 0.2);
}

double
InxFactoryParams::ResolvedClutterSize() const
{
    return clutter_size ? *clutter_size : (DenseCalibration(clutter) ? 2.0 : 10.0);
}

double
InxFactoryParams::ResolvedClutterHeight() const
{
    return clutter_height ? *clutter_height : (DenseCalibration(clutter) ? 6.0 : 2.0);
}

double
InxFactoryParams::ResolvedLosCorrDistance() const
{
    return los_corr_distance ? *los_corr_distance : ResolvedClutterSize() / 2.0;
}

double
InxFactoryParams::ResolvedApHeight() const
{
    if (ap_height)
    {
        return *ap_height;
    }
    const std::string s = InfScenario();
    return (s == "SH" || s == "DH" || s == "HH") ? 8.0 : 1.5;
}

int64_t
InxFactoryParams::ResolvedHallTiles() const
{
    if (hall_tiles)
    {
        return *hall_tiles;
    }
    const double tiles = std::ceil(std::sqrt(static_cast<double>(n_subnetworks) / kRobotsPerTileAuto));
    return std::max<int64_t>(1, static_cast<int64_t>(tiles));
}

int64_t
InxFactoryParams::ObsWidth() const
{
    return n_channels * (obs_reduce == "full" ? n_devices : 1);
}

void
InxFactoryParams::ValidateRelations() const
{
    const std::string s = InfScenario();
    if ((s == "SH" || s == "DH") &&
        !(ResolvedApHeight() > ResolvedClutterHeight() && ResolvedClutterHeight() > device_height))
    {
        std::ostringstream msg;
        msg << "--clutter=" << clutter << " (InF-" << s
            << ") needs ap_height > clutter_height > device_height, got " << ResolvedApHeight()
            << " / " << ResolvedClutterHeight() << " / " << device_height << " m";
        throw ParamError(msg.str());
    }
    if (n_devices > 1 && subnetwork_radius <= 0)
    {
        throw ParamError("--subnetwork_radius must be > 0");
    }
}

const ParamTable<InxFactoryParams>&
InxFactoryParamTable()
{
    static const ParamTable<InxFactoryParams> table = BuildTable();
    return table;
}

void
ParseInxFactoryFlags(const std::vector<std::string>& flags, InxFactoryParams& p)
{
    InxFactoryParamTable().Parse(flags, p);
}

std::string
InxFactoryParamsJson()
{
    return InxFactoryParamTable().DefaultsJson();
}

} // namespace fedmarl
} // namespace ns3
