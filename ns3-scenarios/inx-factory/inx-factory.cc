// fedmarl-inx-factory: the inx-factory scenario at packet level (ns-3), served over the
// shared-memory bridge.
//
// The contract (parameters, arrays, dims, constants) is printed by --contract-json; it is
// declared in inx-factory-params.cc (parameters) and inx-factory-contract.cc (arrays). The
// command line, exit statuses and requests are those of every scenario binary
// (ns3-scenarios/common/scenario-server.h); what RESET and STEP simulate:
// inx-factory-scenario.h. The flag only this binary has: --trace=FILE appends every interval's
// channel state to FILE (pybridge/twin/replay.py reads it).

#include "inx-factory-contract.h"

#include <string>

int
main(int argc, char** argv)
{
    using namespace ns3::fedmarl;
    std::string trace;
    InxFactoryServer server = MakeInxFactoryServer();
    server.Flag({"trace",
                 "--trace=FILE      append every interval's channel state (positions, "
                 "large-scale and faded link powers, full-occupancy SINR) to FILE",
                 [&trace](const std::string& v) {
                     if (v.empty())
                     {
                         throw ParamError("--trace=FILE needs a file name");
                     }
                     trace = v;
                 }});
    return server.Run(argc, argv, [&trace](const InxFactoryParams& p, const ns3::InxFactoryArrays& a) {
        return MakeServedInxFactory(p, a, trace);
    });
}
