/*
 * SPDX-License-Identifier: GPL-2.0-only
 *
 * fedmarl-mobility-trace: prints the factory layout or robot trajectories as text, for the
 * cross-check against the Python model (tests/ns3/test_ns3_mobility.py) and for timing.
 *
 *   --layout                       the lane graph: "node" and "piece" lines
 *   (default)                      CSV step,robot,piece,offset,x,y,moved after every step
 *   --timing                       only the mean wall-clock time per Step
 * Placement: --placement=FILE ("piece offset" per line) or random (Reset). Uniforms: from
 * --uniforms=FILE (whitespace-separated) or the ns-3 stream (--seed, --run, --stream).
 * --simulator steps through the ns-3 scheduler (UpdateInterval = dt) and reads positions
 * through the nodes' MobilityModel instead of calling Step directly (the step then lasts
 * Seconds(dt).GetSeconds(), which equals dt for whole nanoseconds such as 0.05).
 */

#include "factory-alley-mobility.h"

#include "ns3/command-line.h"
#include "ns3/double.h"
#include "ns3/node-container.h"
#include "ns3/nstime.h"
#include "ns3/rng-seed-manager.h"
#include "ns3/simulator.h"
#include "ns3/uinteger.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ns3;

namespace
{

/// Print a double so that parsing it gives back the same bits.
std::string
Exact(double x)
{
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.17g", x);
    return buf;
}

void
PrintLayout(const fedmarl::FactoryAlleyLayout& lay)
{
    std::cout << "hall " << Exact(lay.hallLength) << " " << Exact(lay.hallWidth) << " "
              << Exact(lay.alleyWidth) << " " << Exact(lay.laneOffset) << " " << lay.tilesX
              << " " << lay.tilesY << "\n";
    for (uint32_t k = 0; k < lay.GetNNodes(); ++k)
    {
        std::cout << "node " << k << " " << Exact(lay.nodes[k].x) << " " << Exact(lay.nodes[k].y)
                  << " " << lay.nodeDegree[k] << "\n";
    }
    for (uint32_t p = 0; p < lay.GetNPieces(); ++p)
    {
        std::cout << "piece " << p << " " << static_cast<int>(lay.pieceKind[p]) << " "
                  << lay.pieceNode[p] << " " << lay.pieceApproach[p] << " "
                  << Exact(lay.pieceStart[p].x) << " " << Exact(lay.pieceStart[p].y) << " "
                  << Exact(lay.pieceEnd[p].x) << " " << Exact(lay.pieceEnd[p].y) << " "
                  << Exact(lay.pieceLength[p]) << " " << Exact(lay.pieceDir[p].x) << " "
                  << Exact(lay.pieceDir[p].y);
        for (uint32_t s : lay.successors[p])
        {
            std::cout << " " << s;
        }
        std::cout << "\n";
    }
}

std::vector<fedmarl::PlacementSlot>
ReadPlacement(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
    {
        throw std::runtime_error("cannot read placement file " + path);
    }
    std::vector<fedmarl::PlacementSlot> slots;
    fedmarl::PlacementSlot s;
    while (in >> s.piece >> s.offset)
    {
        slots.push_back(s);
    }
    return slots;
}

std::vector<double>
ReadUniforms(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
    {
        throw std::runtime_error("cannot read uniforms file " + path);
    }
    std::vector<double> values;
    std::string token;
    while (in >> token)
    {
        values.push_back(std::stod(token)); // strtod: exact for 17 significant digits
    }
    return values;
}

void
PrintRows(const FactoryAlleyMobilityManager& mgr, const NodeContainer& nodes, uint32_t step)
{
    std::string rows;
    for (uint32_t i = 0; i < mgr.GetNRobots(); ++i)
    {
        // Positions come through the MobilityModel interface, as a network model sees them.
        const Vector p = nodes.Get(i)->GetObject<MobilityModel>()->GetPosition();
        rows += std::to_string(step) + "," + std::to_string(i) + "," +
                std::to_string(mgr.GetPiece(i)) + "," + Exact(mgr.GetOffset(i)) + "," +
                Exact(p.x) + "," + Exact(p.y) + "," +
                Exact(step == 0 ? 0.0 : mgr.GetLastStepDistance(i)) + "\n";
    }
    std::cout << rows;
}

} // namespace

int
main(int argc, char* argv[])
{
    uint32_t tilesX = 1;
    uint32_t tilesY = 1;
    uint32_t nRobots = 20;
    uint32_t steps = 500;
    double dt = 0.05;
    double speed = 3.0;
    double dMin = 1.0;
    uint32_t seed = 1;
    uint64_t run = 1;
    int64_t stream = 0;
    std::string placementFile;
    std::string uniformsFile;
    bool layoutOnly = false;
    bool timing = false;
    bool viaSimulator = false;

    CommandLine cmd(__FILE__);
    cmd.AddValue("tilesX", "Tiles along x", tilesX);
    cmd.AddValue("tilesY", "Tiles along y", tilesY);
    cmd.AddValue("n", "Number of robots", nRobots);
    cmd.AddValue("steps", "Number of steps", steps);
    cmd.AddValue("dt", "Step duration (s)", dt);
    cmd.AddValue("speed", "Robot speed (m/s)", speed);
    cmd.AddValue("dMin", "Minimum separation (m)", dMin);
    cmd.AddValue("seed", "ns-3 RNG seed (without --uniforms)", seed);
    cmd.AddValue("run", "ns-3 RNG run number (without --uniforms)", run);
    cmd.AddValue("stream", "Stream assigned to the manager's random variable", stream);
    cmd.AddValue("placement", "File with 'piece offset' per robot (default: random)",
                 placementFile);
    cmd.AddValue("uniforms", "File of uniforms in [0,1) used instead of the ns-3 stream",
                 uniformsFile);
    cmd.AddValue("layout", "Print the lane graph and exit", layoutOnly);
    cmd.AddValue("timing", "Print only the mean time per step", timing);
    cmd.AddValue("simulator", "Step through the ns-3 scheduler (UpdateInterval = dt)",
                 viaSimulator);
    cmd.Parse(argc, argv);

    try
    {
        if (layoutOnly)
        {
            PrintLayout(fedmarl::BuildFactoryAlleyLayout(tilesX, tilesY));
            return 0;
        }
        RngSeedManager::SetSeed(seed);
        RngSeedManager::SetRun(run);

        auto mgr = CreateObject<FactoryAlleyMobilityManager>();
        mgr->SetAttribute("TilesX", UintegerValue(tilesX));
        mgr->SetAttribute("TilesY", UintegerValue(tilesY));
        mgr->SetAttribute("Speed", DoubleValue(speed));
        mgr->SetAttribute("MinSeparation", DoubleValue(dMin));
        mgr->SetAttribute("UpdateInterval", TimeValue(viaSimulator ? Seconds(dt) : Time(0)));
        mgr->AssignStreams(stream);

        auto uniforms = std::make_shared<std::vector<double>>();
        auto used = std::make_shared<std::size_t>(0);
        if (!uniformsFile.empty())
        {
            *uniforms = ReadUniforms(uniformsFile);
            mgr->SetUniformSource([uniforms, used]() {
                if (*used >= uniforms->size())
                {
                    throw std::runtime_error("the uniforms file is exhausted");
                }
                return (*uniforms)[(*used)++];
            });
        }

        NodeContainer nodes;
        nodes.Create(nRobots);
        if (placementFile.empty())
        {
            mgr->Install(nodes);
        }
        else
        {
            mgr->Install(nodes, ReadPlacement(placementFile));
        }

        if (timing)
        {
            const auto t0 = std::chrono::steady_clock::now();
            for (uint32_t k = 0; k < steps; ++k)
            {
                mgr->Step(dt);
            }
            const std::chrono::duration<double, std::micro> us =
                std::chrono::steady_clock::now() - t0;
            std::cout << "n=" << nRobots << " tiles=" << tilesX << "x" << tilesY
                      << " steps=" << steps << " dt=" << dt
                      << " mean_step_us=" << us.count() / steps << "\n";
            Simulator::Destroy();
            return 0;
        }

        std::cout << "step,robot,piece,offset,x,y,moved\n";
        PrintRows(*mgr, nodes, 0);
        if (viaSimulator)
        {
            // Sample half-way between two steps: the state after `k` steps.
            for (uint32_t k = 1; k <= steps; ++k)
            {
                Simulator::Schedule(Seconds(dt) * k + Seconds(dt) / 2,
                                    [mgr, nodes, k]() { PrintRows(*mgr, nodes, k); });
            }
            Simulator::Stop(Seconds(dt) * steps + Seconds(dt) * 3 / 4);
            Simulator::Run();
        }
        else
        {
            for (uint32_t k = 1; k <= steps; ++k)
            {
                mgr->Step(dt);
                PrintRows(*mgr, nodes, k);
            }
        }
        std::cout << "# uniforms_used " << *used << "\n";
        Simulator::Destroy();
    }
    catch (const std::exception& e)
    {
        std::cerr << "fedmarl-mobility-trace: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
