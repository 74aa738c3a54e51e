/*
 * fedmarl-ns3: the serve loop every scenario binary shares (the non-template parts).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#include "scenario-server.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

namespace ns3
{
namespace fedmarl
{

namespace
{

bool
ParseUnsigned(std::string_view text, unsigned long long& out)
{
    if (text.empty() || text[0] == '-')
    {
        return false;
    }
    const std::string s(text);
    char* end = nullptr;
    errno = 0;
    out = std::strtoull(s.c_str(), &end, 10);
    return errno == 0 && end && *end == '\0';
}

[[noreturn]] void
Print(const std::string& text)
{
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    std::exit(0);
}

} // namespace

void
ExitBadFlag(const std::string& prog, const std::string& message)
{
    std::fprintf(stderr, "%s: %s\n", prog.c_str(), message.c_str());
    std::exit(2);
}

ProcessFlags
ParseProcessFlags(int argc,
                  char** argv,
                  const std::string& prog,
                  const std::vector<ScenarioFlag>& extra,
                  const ServerTexts& texts)
{
    ProcessFlags f;
    for (int i = 1; i < argc; ++i)
    {
        const std::string_view a = argv[i];
        unsigned long long v = 0;
        if (a == "--help" || a == "-h")
        {
            Print(texts.help());
        }
        else if (a == "--contract-json")
        {
            Print(texts.contractJson() + "\n");
        }
        else if (a == "--params-json")
        {
            Print(texts.paramsJson() + "\n");
        }
        else if (a.starts_with("--segment="))
        {
            f.segment = std::string(a.substr(10));
        }
        else if (a.starts_with("--spin-us="))
        {
            if (!ParseUnsigned(a.substr(10), v) || v > 10'000'000)
            {
                ExitBadFlag(prog,
                            std::string(a) + ": --spin-us must be an integer in [0, 10000000] us");
            }
            f.spinUs = static_cast<int64_t>(v);
        }
        else if (a.starts_with("--crash-at-step="))
        {
            if (!ParseUnsigned(a.substr(16), v) || v == 0)
            {
                ExitBadFlag(prog, std::string(a) + ": --crash-at-step must be an integer >= 1");
            }
            f.crashAtStep = v;
        }
        else
        {
            const ScenarioFlag* own = nullptr;
            for (const auto& e : extra)
            {
                if (a.starts_with("--" + e.name + "="))
                {
                    own = &e;
                }
            }
            if (own)
            {
                try
                {
                    own->set(std::string(a.substr(own->name.size() + 3)));
                }
                catch (const ParamError& e)
                {
                    ExitBadFlag(prog, e.what());
                }
            }
            else
            {
                f.scenarioFlags.emplace_back(a);
            }
        }
    }
    return f;
}

std::string
ServerHelp(const ScenarioIdentity& id,
           const std::string& paramsHelp,
           const std::vector<ScenarioFlag>& extra)
{
    const std::string& b = id.binary;
    std::string out = "usage: " + b +
                      " --segment=NAME [--<parameter>=<value> ...] [--spin-us=U] "
                      "[--crash-at-step=K]\n       " +
                      b + " --contract-json | --params-json | --help\n\n" + id.summary +
                      "\n\nScenario parameters (default, valid range, unit):\n" + paramsHelp +
                      "\nProcess flags:\n"
                      "  --segment=NAME    shared-memory segment created by pybridge (required)\n"
                      "  --spin-us=U       microseconds to spin before sleeping on a request "
                      "(default 50)\n"
                      "  --crash-at-step=K raise SIGKILL when the K-th STEP is requested (tests)\n";
    for (const auto& e : extra)
    {
        out += "  " + e.help + "\n";
    }
    out += "  --contract-json   print the contract (parameters, arrays, dims, constants) as JSON\n"
           "  --params-json     print {name: default} of every parameter as JSON\n";
    return out;
}

std::string
ServerContractJson(const ScenarioIdentity& id,
                   const std::string& paramsJson,
                   const std::string& arraysJson)
{
    std::string dims = "{";
    for (size_t i = 0; i < id.dims.size(); ++i)
    {
        dims += (i ? ", " : "") + JsonString(id.dims[i].first) + ": " +
                JsonString(id.dims[i].second);
    }
    dims += "}";
    std::string constants = "{";
    for (size_t i = 0; i < id.constants.size(); ++i)
    {
        constants +=
            (i ? ", " : "") + JsonString(id.constants[i].first) + ": " + id.constants[i].second;
    }
    constants += "}";
    return "{\"contract_version\": " + std::to_string(kContractVersion) +
           ", \"scenario\": " + JsonString(id.scenario) + ", \"binary\": " +
           JsonString(id.binary) + ", \"layout_version\": " +
           std::to_string(shm::kLayoutVersion) + ", \"params\": " + paramsJson +
           ", \"arrays\": " + arraysJson + ", \"dims\": " + dims + ", \"constants\": " +
           constants + "}";
}

int
ServeRequests(const std::string& prog,
              shm::PeerSegment& seg,
              ServedScenario& scenario,
              const ProcessFlags& flags)
{
    shm::Header* h = seg.header();
    const int64_t spinNs = flags.spinUs * 1000;
    shm::PeerSegment::Request req;
    while (seg.WaitRequest(req, spinNs))
    {
        try
        {
            switch (req.command)
            {
            case shm::Command::kStep: {
                const uint64_t step = h->step_counter.load(std::memory_order_relaxed) + 1;
                if (flags.crashAtStep && step == *flags.crashAtStep)
                {
                    std::fprintf(stderr,
                                 "%s: crashing at step %llu as asked (--crash-at-step)\n",
                                 prog.c_str(),
                                 static_cast<unsigned long long>(step));
                    raise(SIGKILL);
                }
                scenario.Step();
                h->step_counter.store(step, std::memory_order_relaxed); // published by Respond
                seg.Respond();
                break;
            }
            case shm::Command::kReset:
                scenario.Reset(req.arg);
                seg.Respond();
                break;
            case shm::Command::kClose:
                scenario.Close();
                seg.Close();
                return 0;
            default: {
                const std::string msg =
                    "unknown command " + std::to_string(static_cast<uint32_t>(req.command));
                std::fprintf(stderr, "%s: %s\n", prog.c_str(), msg.c_str());
                seg.ReportError(shm::ErrorCode::kCommand, msg);
                return 5;
            }
            }
        }
        catch (const std::exception& e)
        {
            std::fprintf(stderr, "%s: %s\n", prog.c_str(), e.what());
            seg.ReportError(shm::ErrorCode::kSimulation, e.what());
            return 1;
        }
    }
    // The owner process has gone: nobody to report to.
    return 0;
}

} // namespace fedmarl
} // namespace ns3
