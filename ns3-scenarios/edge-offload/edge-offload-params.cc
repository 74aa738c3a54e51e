/*
 * fedmarl-ns3: the parameters of the edge-offload scenario binary.
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * The table is the binary's declaration of its parameters: names, types, defaults, ranges and
 * choices equal docs/scenarios/edge-offload-model.md section 1 and so pybridge/scenarios/edge_offload/
 * config.py field by field (Python checks that against --contract-json at connect time).
 * Ranges the model (docs/scenarios/edge-offload-model.md) leaves blank for eMBB / mMTC are those of the URLLC row (bits (0, 1e9],
 * deadline (0, 100] s, rate [0, 1000] tasks/s: 1 / the smallest interval_s).
 */

#include "edge-offload-params.h"

#include "factory-alley-layout.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace ns3
{
namespace fedmarl
{

namespace
{

ParamTable<EdgeOffloadParams>
BuildTable()
{
    using P = EdgeOffloadParams;
    ParamTable<P> t;
    t.Int("n_users", &P::n_users, 1, 5000, {"users U (agents)", "", "FERMI-6G (5..50)"});
    t.Int("n_servers", &P::n_servers, 1, 16,
          {"edge servers E, each behind a ceiling access point", "", "ours"});
    t.Int("n_channels", &P::n_channels, 1, 32,
          {"uplink channels K, 20 MHz each in the 6 GHz band (ns-3 channel numbers 1 + 4k)", "",
           "issue 11"});
    t.Float("channel_bandwidth_hz", &P::channel_bandwidth_hz, 20e6, 20e6, false,
            {"bandwidth per channel (802.11ax 20 MHz; only 20e6 accepted)", "Hz", "issue 11"});
    t.Float("carrier_freq_ghz", &P::carrier_freq_ghz, 0.5, 100.0, false,
            {"InF path-loss frequency of all K channels", "GHz", "ours"});
    t.Float("tx_power_dbm", &P::tx_power_dbm, -10.0, 30.0, false,
            {"user and AP transmit power", "dBm", "issue 11"});
    t.Float("noise_figure_db", &P::noise_figure_db, 0.0, 30.0, false,
            {"receiver noise figure (ns-3 WifiPhy RxNoiseFigure default)", "dB", "ns-3"});
    t.Choice("clutter", &P::clutter, {"sparse-high", "dense-high"},
             {"InF clutter type with a high (ceiling) AP: sparse-high=InF-SH, dense-high=InF-DH",
              "", "38.901"});
    t.Float("hall_length", &P::hall_length, 10.0, 1000.0, false,
            {"hall length L", "m", "DESIGN hall"});
    t.Float("hall_width", &P::hall_width, 10.0, 1000.0, false,
            {"hall width W_h", "m", "DESIGN hall"});
    t.Float("ap_height", &P::ap_height, 2.0, 30.0, false,
            {"ceiling access-point height", "m", "38.901 InF high BS"});
    t.Float("user_height", &P::user_height, 0.5, 3.0, false,
            {"user antenna height", "m", "38.901 UT"});
    t.Float("speed", &P::speed, 0.0, 10.0, false,
            {"user speed: random waypoint (pause 0) or along the alley lanes", "m/s",
             "issue 11"});
    t.Choice("mobility", &P::mobility, {"random-waypoint", "alleys"},
             {"how users move: random-waypoint (uniform waypoints in the hall) or alleys (the "
              "two-lane alleys of the 180 m x 80 m factory tile, as the factory robots: "
              "min separation 1 m (fixed), yield at intersections; needs hall_length=180, "
              "hall_width=80)",
              "", "issue 11, DESIGN.md"});
    t.Float("shadow_corr_distance", &P::shadow_corr_distance, 0.0, 1000.0, true,
            {"shadowing decorrelation distance", "m", "38.901 Table 7.5-6"});
    t.Float("interval_s", &P::interval_s, 0.001, 1.0, false,
            {"decision interval T", "s", "ours"});
    t.Int("episode_steps", &P::episode_steps, 1, 10'000'000,
          {"decision intervals per episode", "", "ours"});
    t.Float("urllc_bits", &P::urllc_bits, 0.0, 1e9, true,
            {"URLLC task size", "bit", "TR 38.913 7.5"});
    t.Float("urllc_deadline_s", &P::urllc_deadline_s, 0.0, 100.0, true,
            {"URLLC deadline", "s", "TR 38.913 7.5"});
    t.Float("urllc_rate", &P::urllc_rate, 0.0, 1000.0, false,
            {"URLLC arrivals per user (Bernoulli p = rate x interval_s per interval)", "tasks/s",
             "ours"});
    t.Float("embb_bits", &P::embb_bits, 0.0, 1e9, true, {"eMBB task size", "bit", "issue 11"});
    t.Float("embb_deadline_s", &P::embb_deadline_s, 0.0, 100.0, true,
            {"eMBB deadline", "s", "issue 11"});
    t.Float("embb_rate", &P::embb_rate, 0.0, 1000.0, false,
            {"eMBB arrivals per user", "tasks/s", "ours"});
    t.Float("mmtc_bits", &P::mmtc_bits, 0.0, 1e9, true,
            {"mMTC task size (200 B)", "bit", "issue 11"});
    t.Float("mmtc_deadline_s", &P::mmtc_deadline_s, 0.0, 100.0, true,
            {"mMTC deadline", "s", "issue 11"});
    t.Float("mmtc_rate", &P::mmtc_rate, 0.0, 1000.0, false,
            {"mMTC arrivals per user", "tasks/s", "ours"});
    t.Float("cycles_per_bit", &P::cycles_per_bit, 0.0, 1e6, true,
            {"CPU cycles per task bit", "cycles/bit", "Mao et al. 2017"});
    t.Float("kappa", &P::kappa, 0.0, 1e-20, true,
            {"CPU energy coefficient: kappa f^2 per cycle", "J/cycle/Hz^2", "Mao et al. 2017"});
    {
        ParamInfo info;
        info.name = "cpu_levels_ghz";
        info.type = ParamType::kStr;
        info.doc = {"local CPU levels F: comma list of 1..16 strictly increasing values in (0, 10]",
                    "GHz", "issue 11"};
        // The shared table's one free-string entry is AddOptional's; its None is refused by
        // ValidateRelations (the contract's None flag is not part of the checked properties).
        t.AddOptional(
            std::move(info),
            &P::cpu_levels_ghz,
            [](const ParamInfo&, const std::string& v) {
                ParseCpuLevelsGhz(v);
                return v;
            },
            [](const std::string& v) { return JsonString(v); });
    }
    t.Float("cpu_idle_power_w", &P::cpu_idle_power_w, 0.0, 10.0, false,
            {"local CPU power while it has no work", "W", "ours"});
    t.Float("server_cpu_hz", &P::server_cpu_hz, 1e6, 1e12, false,
            {"CPU speed of each edge server (FIFO)", "Hz", "issue 11"});
    t.Float("result_bits", &P::result_bits, 0.0, 1e7, false,
            {"result size sent back by the server (100 B)", "bit", "ours"});
    t.Int("max_tasks", &P::max_tasks, 1, 4096,
          {"tasks a user holds at once (local + uplink + at server); an arrival beyond is late "
           "at once",
           "", "ours"});
    t.Float("radio_voltage_v", &P::radio_voltage_v, 0.0, 24.0, true,
            {"supply voltage (ns-3 BasicEnergySource default)", "V", "ns-3"});
    t.Float("radio_tx_current_a", &P::radio_tx_current_a, 0.0, 10.0, false,
            {"radio TX current (ns-3 WifiRadioEnergyModel TxCurrentA)", "A", "ns-3"});
    t.Float("radio_rx_current_a", &P::radio_rx_current_a, 0.0, 10.0, false,
            {"radio RX current (ns-3 WifiRadioEnergyModel RxCurrentA)", "A", "ns-3"});
    t.Float("w_success", &P::w_success, 0.0, 1e6, false,
            {"reward weight of (done - late)", "", "ours"});
    t.Float("w_latency", &P::w_latency, 0.0, 1e6, false,
            {"reward weight of sum latency / deadline", "", "ours"});
    t.Float("w_energy", &P::w_energy, 0.0, 1e6, false,
            {"reward weight of the energy spent", "1/J", "ours"});
    t.Float("w_spectral", &P::w_spectral, 0.0, 1e6, false,
            {"reward weight of uplink bits / (20e6 T)", "", "ours"});
    t.Float("w_fairness", &P::w_fairness, 0.0, 1e6, false,
            {"reward weight of 1 - Jain(success ratios)", "", "ours"});
    t.Int("seed", &P::seed, 0, std::numeric_limits<int64_t>::max(),
          {"master seed", "", "ours"});
    return t;
}

} // namespace

std::vector<double>
ParseCpuLevelsGhz(const std::string& text)
{
    auto bad = [&text](const std::string& why) {
        return ParamError("--cpu_levels_ghz=" + text + ": " + why +
                          " (a comma list of 1..16 strictly increasing values in (0, 10] GHz)");
    };
    std::vector<double> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ','))
    {
        const auto b = item.find_first_not_of(" \t");
        const auto e = item.find_last_not_of(" \t");
        if (b == std::string::npos)
        {
            throw bad("empty entry");
        }
        item = item.substr(b, e - b + 1);
        size_t used = 0;
        double x = 0.0;
        try
        {
            x = std::stod(item, &used);
        }
        catch (const std::exception&)
        {
            throw bad("'" + item + "' is not a number");
        }
        if (used != item.size() || !std::isfinite(x))
        {
            throw bad("'" + item + "' is not a number");
        }
        if (!(x > 0.0 && x <= 10.0))
        {
            throw bad(item + " is outside (0, 10]");
        }
        if (!out.empty() && !(x > out.back()))
        {
            throw bad("values must increase strictly");
        }
        out.push_back(x);
    }
    if (text.empty() || text.back() == ',')
    {
        throw bad("empty entry");
    }
    if (out.empty() || out.size() > 16)
    {
        throw bad(std::to_string(out.size()) + " values");
    }
    return out;
}

uint32_t
AlleyCapacity()
{
    static const uint32_t cap =
        LaneCapacity(BuildFactoryAlleyLayout(1, 1, 180.0, 80.0, 5.0), kAlleyMinSeparation);
    return cap;
}

std::string
EdgeOffloadParams::InfScenario() const
{
    return clutter == "dense-high" ? "DH" : "SH";
}

std::vector<double>
EdgeOffloadParams::CpuLevelsHz() const
{
    std::vector<double> ghz = ParseCpuLevelsGhz(cpu_levels_ghz.value_or(""));
    for (auto& x : ghz)
    {
        x *= 1e9;
    }
    return ghz;
}

int64_t
EdgeOffloadParams::NumCpuLevels() const
{
    return static_cast<int64_t>(CpuLevelsHz().size());
}

int64_t
EdgeOffloadParams::ObsWidth() const
{
    return 10 + n_channels + 2 * n_servers;
}

double
EdgeOffloadParams::ClassBits(int c) const
{
    return c == 0 ? urllc_bits : (c == 1 ? embb_bits : mmtc_bits);
}

double
EdgeOffloadParams::ClassDeadline(int c) const
{
    return c == 0 ? urllc_deadline_s : (c == 1 ? embb_deadline_s : mmtc_deadline_s);
}

double
EdgeOffloadParams::ClassRate(int c) const
{
    return c == 0 ? urllc_rate : (c == 1 ? embb_rate : mmtc_rate);
}

void
EdgeOffloadParams::ValidateRelations() const
{
    if (!cpu_levels_ghz)
    {
        throw ParamError("--cpu_levels_ghz=None: give a comma list of 1..16 strictly increasing "
                         "values in (0, 10] GHz");
    }
    ParseCpuLevelsGhz(*cpu_levels_ghz);
    const char* names[3] = {"urllc_rate", "embb_rate", "mmtc_rate"};
    for (int c = 0; c < 3; ++c)
    {
        const double p = ClassRate(c) * interval_s;
        if (p > 1.0 + 1e-12)
        {
            throw ParamError(std::string(names[c]) + " x interval_s = " + FormatG(p) +
                             " > 1: Bernoulli arrivals need at most one task per interval");
        }
    }
    if (mobility == "alleys")
    {
        if (hall_length != 180.0 || hall_width != 80.0)
        {
            throw ParamError("--mobility=alleys needs hall_length=180 and hall_width=80 m (the "
                             "factory alley tile), got hall_length=" +
                             FormatG(hall_length) + ", hall_width=" + FormatG(hall_width));
        }
        const uint32_t cap = AlleyCapacity();
        if (n_users > static_cast<int64_t>(cap))
        {
            throw ParamError("--mobility=alleys holds at most " + std::to_string(cap) +
                             " users (the lane capacity of one 180 m x 80 m tile at " +
                             FormatG(kAlleyMinSeparation) + " m separation), got n_users=" +
                             std::to_string(n_users));
        }
    }
    // The InF-SH/DH LOS probability (38.901 Table 7.4.2-1) needs h_BS > h_c > h_UT; h_c is the
    // calibration clutter height (2 m sparse, 6 m dense), as EdgeOffloadConfig checks it.
    const double hC = clutter == "dense-high" ? 6.0 : 2.0;
    if (!(ap_height > hC && hC > user_height))
    {
        throw ParamError("--clutter=" + clutter + " (clutter height " + FormatG(hC) +
                         " m) needs ap_height > clutter height > user_height, got ap_height=" +
                         FormatG(ap_height) + ", user_height=" + FormatG(user_height) + " m");
    }
}

const ParamTable<EdgeOffloadParams>&
EdgeOffloadParamTable()
{
    static const ParamTable<EdgeOffloadParams> table = BuildTable();
    return table;
}

} // namespace fedmarl
} // namespace ns3
