// fedmarl-edge-offload: the edge-offload scenario at packet level (ns-3 802.11ax Wi-Fi, UDP/IPv4,
// energy framework), served over the shared-memory bridge.
//
// The contract (parameters, arrays, dims, constants) is printed by --contract-json; it is
// declared in edge-offload-params.cc and edge-offload-contract.cc. Command line, exit statuses
// and requests: ns3-scenarios/common/scenario-server.h; what RESET and STEP simulate:
// edge-offload-scenario.h.

#include "edge-offload-contract.h"

int
main(int argc, char** argv)
{
    using namespace ns3::fedmarl;
    EdgeOffloadServer server = MakeEdgeOffloadServer();
    return server.Run(argc, argv, [](const EdgeOffloadParams& p, const ns3::EdgeOffloadArrays& a) {
        return MakeServedEdgeOffload(p, a);
    });
}
