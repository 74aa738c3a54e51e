/*
 * fedmarl-ns3: the parameters of the inx-factory scenario binary.
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * Names, defaults, ranges and choices mirror pybridge/scenarios/inx_factory.py field by field
 * (tests/test_ns3_scenario_binary.py compares --params-json with the dataclass). Parsing follows
 * pybridge/config.py: integers may be written as floats with no fractional part ("1e3"),
 * ranges are closed unless the dataclass marks them low_open.
 */

#include "inx-factory-params.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

/// Python's "{x:g}".
std::string
FormatG(double x)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", x);
    return buf;
}

/// The range as ScenarioConfig.describe() prints it: "[low, high]" or "(low, high]".
std::string
RangeText(double low, double high, bool lowOpen)
{
    return std::string(lowOpen ? "(" : "[") + FormatG(low) + ", " + FormatG(high) + "]";
}

/// Shortest round-trip JSON number for a double, always recognisable as a float.
std::string
JsonDouble(double x)
{
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), x);
    std::string s(buf, end);
    if (s.find_first_of(".en") == std::string::npos)
    {
        s += ".0";
    }
    return s;
}

/// JSON string literal (our values need no escapes beyond quotes and backslashes).
std::string
JsonString(const std::string& s)
{
    std::string out = "\"";
    for (char c : s)
    {
        if (c == '"' || c == '\\')
        {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

/// "None" spellings accepted for parameters whose Python default is None.
bool
IsNone(const std::string& v)
{
    return v == "None" || v == "none" || v == "null";
}

/// Parse a whole string as a double; false if anything is left over or it is empty.
bool
ParseDouble(const std::string& text, double& out)
{
    if (text.empty())
    {
        return false;
    }
    char* end = nullptr;
    out = std::strtod(text.c_str(), &end);
    return end && *end == '\0';
}

/// Parse an integer the way pybridge/config.py coerces one: exact integers, or floats
/// without a fractional part ("1e3", "20.0").
bool
ParseInteger(const std::string& text, int64_t& out)
{
    if (text.empty())
    {
        return false;
    }
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (end && *end == '\0' && errno == 0)
    {
        out = v;
        return true;
    }
    double d = 0.0;
    if (!ParseDouble(text, d) || !std::isfinite(d) || d != std::floor(d) ||
        std::fabs(d) >= 9.2e18)
    {
        return false;
    }
    out = static_cast<int64_t>(d);
    return true;
}

/// Throws the out-of-range error of pybridge/config.py unless low <= v <= high (or low < v).
void
CheckRange(const std::string& name,
           const std::string& text,
           double v,
           double low,
           double high,
           bool lowOpen,
           const std::string& unit)
{
    if (std::isnan(v))
    {
        throw ParamError("--" + name + "=" + text + " is NaN; valid range " +
                         RangeText(low, high, lowOpen) + (unit.empty() ? "" : " " + unit));
    }
    const bool tooLow = lowOpen ? v <= low : v < low;
    if (tooLow || v > high)
    {
        throw ParamError("--" + name + "=" + text + " is out of range " +
                         RangeText(low, high, lowOpen) + (unit.empty() ? "" : " " + unit));
    }
}

/// An integer parameter in [low, high].
InxFactoryParamSpec
IntSpec(std::string name,
        int64_t InxFactoryParams::*member,
        double low,
        double high,
        std::string unit,
        std::string help,
        bool ns3Only = false)
{
    InxFactoryParamSpec s;
    s.name = name;
    s.unit = unit;
    s.help = std::move(help);
    s.range = RangeText(low, high, false);
    s.ns3Only = ns3Only;
    s.set = [name, member, low, high, unit](InxFactoryParams& p, const std::string& v) {
        int64_t x = 0;
        if (!ParseInteger(v, x))
        {
            throw ParamError("--" + name + "=" + v + " must be an integer in " +
                             RangeText(low, high, false));
        }
        CheckRange(name, v, static_cast<double>(x), low, high, false, unit);
        p.*member = x;
    };
    s.json = [member](const InxFactoryParams& p) { return std::to_string(p.*member); };
    return s;
}

/// A float parameter in [low, high] or (low, high].
InxFactoryParamSpec
FloatSpec(std::string name,
          double InxFactoryParams::*member,
          double low,
          double high,
          bool lowOpen,
          std::string unit,
          std::string help,
          bool ns3Only = false)
{
    InxFactoryParamSpec s;
    s.name = name;
    s.unit = unit;
    s.help = std::move(help);
    s.range = RangeText(low, high, lowOpen);
    s.ns3Only = ns3Only;
    s.set = [name, member, low, high, lowOpen, unit](InxFactoryParams& p, const std::string& v) {
        double x = 0.0;
        if (!ParseDouble(v, x))
        {
            throw ParamError("--" + name + "=" + v + " must be a number in " +
                             RangeText(low, high, lowOpen) + (unit.empty() ? "" : " " + unit));
        }
        CheckRange(name, v, x, low, high, lowOpen, unit);
        p.*member = x;
    };
    s.json = [member](const InxFactoryParams& p) { return JsonDouble(p.*member); };
    return s;
}

/// A float parameter whose default (None) is derived from others.
InxFactoryParamSpec
OptionalFloatSpec(std::string name,
                  std::optional<double> InxFactoryParams::*member,
                  double low,
                  double high,
                  bool lowOpen,
                  std::string unit,
                  std::string help)
{
    InxFactoryParamSpec s;
    s.name = name;
    s.unit = unit;
    s.help = std::move(help);
    s.range = RangeText(low, high, lowOpen) + " or None";
    s.set = [name, member, low, high, lowOpen, unit](InxFactoryParams& p, const std::string& v) {
        if (IsNone(v))
        {
            p.*member = std::nullopt;
            return;
        }
        double x = 0.0;
        if (!ParseDouble(v, x))
        {
            throw ParamError("--" + name + "=" + v + " must be a number in " +
                             RangeText(low, high, lowOpen) + (unit.empty() ? "" : " " + unit) +
                             ", or None for the derived default");
        }
        CheckRange(name, v, x, low, high, lowOpen, unit);
        p.*member = x;
    };
    s.json = [member](const InxFactoryParams& p) {
        return (p.*member) ? JsonDouble(*(p.*member)) : std::string("null");
    };
    return s;
}

/// A string parameter with a fixed set of values.
InxFactoryParamSpec
ChoiceSpec(std::string name,
           std::string InxFactoryParams::*member,
           std::vector<std::string> choices,
           std::string help,
           bool ns3Only = false)
{
    InxFactoryParamSpec s;
    s.name = name;
    s.help = std::move(help);
    std::string list;
    for (const auto& c : choices)
    {
        list += (list.empty() ? "" : " | ") + c;
    }
    s.range = list;
    s.ns3Only = ns3Only;
    s.set = [name, member, choices, list](InxFactoryParams& p, const std::string& v) {
        for (const auto& c : choices)
        {
            if (v == c)
            {
                p.*member = v;
                return;
            }
        }
        std::string comma;
        for (const auto& c : choices)
        {
            comma += (comma.empty() ? "" : ", ") + c;
        }
        throw ParamError("--" + name + "=" + v + " must be one of " + comma);
    };
    s.json = [member](const InxFactoryParams& p) { return JsonString(p.*member); };
    return s;
}

std::vector<InxFactoryParamSpec>
BuildSpecs()
{
    using P = InxFactoryParams;
    std::vector<InxFactoryParamSpec> v;
    // --- deployment
    v.push_back(IntSpec("n_subnetworks", &P::n_subnetworks, 1, 20000, "",
                        "number of in-robot subnetworks N (agents)"));
    v.push_back(IntSpec("n_devices", &P::n_devices, 1, 64, "", "devices per subnetwork M"));
    v.push_back(IntSpec("n_channels", &P::n_channels, 1, 1024, "", "shared orthogonal channels K"));
    {
        InxFactoryParamSpec s;
        s.name = "hall_tiles";
        s.help = "the hall is hall_tiles x hall_tiles copies of the 180 m x 80 m layout; auto: "
                 "smallest that keeps <= 100 robots per tile";
        s.range = "auto | [1, 64]";
        s.set = [](P& p, const std::string& val) {
            if (val == "auto")
            {
                p.hall_tiles = std::nullopt;
                return;
            }
            int64_t x = 0;
            if (!ParseInteger(val, x))
            {
                throw ParamError("--hall_tiles=" + val + " must be auto or an integer in [1, 64]");
            }
            CheckRange("hall_tiles", val, static_cast<double>(x), 1, 64, false, "");
            p.hall_tiles = x;
        };
        s.json = [](const P& p) {
            return p.hall_tiles ? std::to_string(*p.hall_tiles) : std::string("\"auto\"");
        };
        v.push_back(s);
    }
    v.push_back(FloatSpec("subnetwork_radius", &P::subnetwork_radius, 0.0, 10.0, true, "m",
                          "devices lie uniformly in a disc of this radius around their AP"));
    v.push_back(FloatSpec("speed", &P::speed, 0.0, 30.0, false, "m/s", "robot speed"));
    v.push_back(FloatSpec("min_separation", &P::min_separation, 0.1, 2.5, false, "m",
                          "minimum robot centre-to-centre distance"));
    v.push_back(OptionalFloatSpec("ap_height", &P::ap_height, 0.5, 30.0, false, "m",
                                  "AP antenna height; None: 1.5 m low-BS, 8 m high-BS clutter"));
    v.push_back(FloatSpec("device_height", &P::device_height, 0.5, 30.0, false, "m",
                          "device antenna height"));
    // --- radio
    v.push_back(FloatSpec("carrier_freq_ghz", &P::carrier_freq_ghz, 0.5, 100.0, false, "GHz",
                          "carrier frequency"));
    v.push_back(FloatSpec("channel_bandwidth_hz", &P::channel_bandwidth_hz, 1e3, 1e9, false, "Hz",
                          "bandwidth of each channel"));
    v.push_back(FloatSpec("tx_power_dbm", &P::tx_power_dbm, -60.0, 40.0, false, "dBm",
                          "access-point transmit power"));
    v.push_back(FloatSpec("noise_figure_db", &P::noise_figure_db, 0.0, 30.0, false, "dB",
                          "receiver noise figure"));
    v.push_back(ChoiceSpec("clutter", &P::clutter,
                           {"sparse", "dense", "sparse-high", "dense-high", "high-high"},
                           "InF clutter type: sparse=InF-SL, dense=InF-DL, sparse-high=InF-SH, "
                           "dense-high=InF-DH, high-high=InF-HH"));
    v.push_back(OptionalFloatSpec("clutter_density", &P::clutter_density, 0.0, 1.0, true, "",
                                  "clutter density r; None: 0.2 sparse, 0.6 dense"));
    v.push_back(OptionalFloatSpec("clutter_size", &P::clutter_size, 0.0, 100.0, true, "m",
                                  "clutter size d_clutter; None: 10 m sparse, 2 m dense"));
    v.push_back(OptionalFloatSpec("clutter_height", &P::clutter_height, 0.0, 30.0, true, "m",
                                  "effective clutter height h_c; None: 2 m sparse, 6 m dense"));
    v.push_back(FloatSpec("shadow_corr_distance", &P::shadow_corr_distance, 0.0, 1000.0, true,
                          "m", "shadowing decorrelation distance d_c"));
    v.push_back(OptionalFloatSpec("los_corr_distance", &P::los_corr_distance, 0.0, 1000.0, true,
                                  "m", "LOS-state correlation distance; None: d_clutter / 2"));
    v.push_back(IntSpec("blocklength", &P::blocklength, 1, 1e7, "channel uses",
                        "finite-blocklength code length l of a full transport block"));
    v.push_back(FloatSpec("error_prob", &P::error_prob, 0.0, 0.5, true, "",
                          "target block error probability epsilon of link adaptation"));
    // --- decision process
    v.push_back(FloatSpec("step_duration", &P::step_duration, 0.0, 10.0, true, "s",
                          "decision interval T"));
    v.push_back(IntSpec("episode_steps", &P::episode_steps, 1, 1e7, "",
                        "decision steps per episode"));
    v.push_back(IntSpec("tau_max", &P::tau_max, 1, 1e4, "steps",
                        "a channel switch takes effect after U{1..tau_max} steps"));
    v.push_back(FloatSpec("r_min", &P::r_min, 0.0, 100.0, false, "bps/Hz", "minimum rate target"));
    v.push_back(FloatSpec("lambda_rate", &P::lambda_rate, 0.0, 1e6, false, "",
                          "reward weight lambda_1 of the rate sum (eq. 13)"));
    v.push_back(FloatSpec("lambda_penalty", &P::lambda_penalty, 0.0, 1e6, false, "",
                          "reward weight lambda_2 of the shortfall below r_min (eq. 13)"));
    v.push_back(ChoiceSpec("obs_quantity", &P::obs_quantity, {"sinr", "interference"},
                           "per-channel measurement: SINR (dB) or interference-plus-noise (dBm)"));
    v.push_back(ChoiceSpec("obs_reduce", &P::obs_reduce, {"full", "min", "mean", "max", "median"},
                           "reduction over a subnetwork's devices (full keeps all M)"));
    // --- numerics
    v.push_back(IntSpec("large_scale_update_steps", &P::large_scale_update_steps, 1, 1e4, "steps",
                        "positions, LOS, path loss and shadowing are refreshed every this many "
                        "steps; fading every step"));
    v.push_back(IntSpec("max_faded_interferers", &P::max_faded_interferers, 1, 1e5, "",
                        "per device the strongest interferers fade; weaker ones add their mean "
                        "power (exact when N - 1 <= this)"));
    v.push_back(IntSpec("seed", &P::seed, 0, 9223372036854775807.0, "",
                        "master seed (ns-3: selects RngSeed; RESET's argument is the RngRun)"));
    // --- packet level (ns-3 only)
    v.push_back(ChoiceSpec("traffic", &P::traffic, {"full-buffer", "poisson", "periodic"},
                           "downlink traffic per device: infinite backlog, or one packet per "
                           "packet_interval on average / exactly",
                           true));
    v.push_back(IntSpec("packet_size", &P::packet_size, 1, 65535, "B", "packet payload", true));
    v.push_back(FloatSpec("packet_interval", &P::packet_interval, 0.0, 10.0, true, "s",
                          "mean time between packets per device (poisson, periodic)", true));
    v.push_back(IntSpec("queue_size", &P::queue_size, 1, 1e7, "packets",
                        "DropTailQueue capacity per device", true));
    return v;
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

const std::vector<InxFactoryParamSpec>&
InxFactoryParamSpecs()
{
    static const std::vector<InxFactoryParamSpec> specs = BuildSpecs();
    return specs;
}

void
ParseInxFactoryFlags(const std::vector<std::string>& flags, InxFactoryParams& p)
{
    const auto& specs = InxFactoryParamSpecs();
    for (const auto& flag : flags)
    {
        if (flag.rfind("--", 0) != 0)
        {
            throw ParamError("unexpected argument '" + flag + "' (flags are --name=value)");
        }
        const auto eq = flag.find('=');
        const std::string name = flag.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
        const InxFactoryParamSpec* spec = nullptr;
        for (const auto& s : specs)
        {
            if (s.name == name)
            {
                spec = &s;
                break;
            }
        }
        if (!spec)
        {
            throw ParamError("unknown flag --" + name + " (run --help for the list of flags)");
        }
        if (eq == std::string::npos)
        {
            throw ParamError("--" + name + " needs a value: --" + name + "=<" + spec->range + ">");
        }
        spec->set(p, flag.substr(eq + 1));
    }
}

std::string
InxFactoryParamsJson()
{
    const InxFactoryParams defaults;
    std::string out = "{";
    bool first = true;
    for (const auto& s : InxFactoryParamSpecs())
    {
        out += (first ? "" : ", ") + JsonString(s.name) + ": " + s.json(defaults);
        first = false;
    }
    return out + "}";
}

std::string
InxFactoryParamsHelp()
{
    const InxFactoryParams defaults;
    std::ostringstream out;
    for (const auto& s : InxFactoryParamSpecs())
    {
        std::string def = s.json(defaults);
        if (def.size() > 1 && def.front() == '"')
        {
            def = def.substr(1, def.size() - 2);
        }
        if (def == "null")
        {
            def = "None";
        }
        std::string flag = "  --" + s.name + "=" + def;
        if (flag.size() < 38)
        {
            flag.resize(38, ' ');
        }
        out << flag << " " << s.help << "; valid: " << s.range
            << (s.unit.empty() ? "" : " " + s.unit) << (s.ns3Only ? " (ns-3 only)" : "") << "\n";
    }
    return out.str();
}

} // namespace fedmarl
} // namespace ns3
