// fedmarl-inx-factory: the inx-factory scenario at packet level (ns-3), served over the
// shared-memory bridge.
//
// The contract (parameters, arrays, dims, constants) is printed by --contract-json; it is
// declared in inx-factory-params.cc (parameters) and inx-factory-contract.cc (arrays). The
// command line, exit statuses and requests are those of every scenario binary
// (ns3-scenarios/common/scenario-server.h); what RESET and STEP simulate:
// inx-factory-scenario.h. The flag only this binary has: --trace=FILE appends every interval's
// channel state to FILE (pybridge/scenarios/inx_factory/replay.py reads it); --drive=FILE takes
// positions and channels from FILE step by step (trace-driven mode, InxFactoryScenario::
// SetDriveFile; pybridge/scenarios/inx_factory/trace_ns3.py writes it).

#include "inx-factory-contract.h"

#include <string>

int
main(int argc, char** argv)
{
    using namespace ns3::fedmarl;
    std::string trace;
    std::string drive;
    InxFactoryServer server = MakeInxFactoryServer();
    // A --NAME=FILE flag that stores its (non-empty) value in target.
    auto fileFlag = [&server](const std::string& name, const std::string& help, std::string& target) {
        server.Flag({name, "--" + name + "=FILE      " + help, [name, &target](const std::string& v) {
                         if (v.empty())
                         {
                             throw ParamError("--" + name + "=FILE needs a file name");
                         }
                         target = v;
                     }});
    };
    fileFlag("trace",
             "append every interval's channel state (positions, large-scale and faded link "
             "powers, full-occupancy SINR) to FILE",
             trace);
    fileFlag("drive",
             "trace-driven mode: positions and channels of every interval from FILE (agents' "
             "actions unused)",
             drive);
    return server.Run(argc,
                      argv,
                      [&trace, &drive](const InxFactoryParams& p,
                                       const ns3::InxFactoryArrays& a) {
                          return MakeServedInxFactory(p, a, trace, drive);
                      });
}
