/*
 * fedmarl-ns3: the link gains of the edge-offload hall as one ns-3 PropagationLossModel.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_EDGE_LINK_LOSS_MODEL_H
#define FEDMARL_EDGE_LINK_LOSS_MODEL_H

#include "ar1-rayleigh-fading.h"

#include "ns3/propagation-loss-model.h"

#include <memory>
#include <unordered_map>
#include <vector>

namespace ns3
{

class ThreeGppIndoorFactoryPropagationLossModel;

/**
 * @ingroup fedmarl
 * @brief InF path loss + shadowing + AR(1) Rayleigh block fading of every link of the hall,
 *        held constant for one decision interval.
 *
 * Nodes are registered with their role (user or AP, by index). Gain of a link (dB, negative):
 * user-AP: the `clutter` InF model (SH/DH, our ThreeGppIndoorFactoryPropagationLossModel with its
 * LOS field); user-user: the low-BS InF model of the same clutter (SL/DL); AP-AP: InF-HH; plus
 * 10 log10 |h|^2 of the link's AR(1) fading (Ar1RayleighFading, key (lower, higher) index).
 * NewInterval() advances the fading one step and starts a new interval: a link's gain is
 * computed at its first query in the interval and reused until the next NewInterval(); its
 * large-scale part (path loss, LOS state, shadowing; from the positions at its evaluation) is
 * kept until a NewInterval(true) (the twin's LARGE_SCALE_EVERY refresh). Reciprocal: (a, b)
 * and (b, a) are the same link.
 */
class EdgeLinkLossModel : public PropagationLossModel
{
  public:
    /// @return the TypeId
    static TypeId GetTypeId();
    EdgeLinkLossModel();
    ~EdgeLinkLossModel() override;

    /**
     * @param highBs the user-AP model (InF-SH / DH)
     * @param lowBs the user-user model (InF-SL / DL)
     * @param highHigh the AP-AP model (InF-HH)
     * @param rho AR(1) fading coefficient per interval
     * @param fadingStream stream of the fading's normal variable
     */
    void Configure(Ptr<ThreeGppIndoorFactoryPropagationLossModel> highBs,
                   Ptr<ThreeGppIndoorFactoryPropagationLossModel> lowBs,
                   Ptr<ThreeGppIndoorFactoryPropagationLossModel> highHigh,
                   double rho,
                   int64_t fadingStream);
    /// Register a node's mobility: index (users 0..U-1, then APs) and role.
    void AddNode(Ptr<MobilityModel> mobility, uint32_t index, bool isAp);
    /**
     * Advance the fading one interval and forget the cached gains.
     * @param largeScale also forget the large-scale losses (path loss, LOS, shadowing), which
     *        are then evaluated again at the positions of their first use
     */
    void NewInterval(bool largeScale);
    /// @return the gain of link (i, j) in this interval, dB (computed now if not yet)
    double GetGainDb(uint32_t i, uint32_t j);
    /// @return the number of gain evaluations so far (profiling)
    uint64_t GetEvaluations() const;

  protected:
    void DoDispose() override;

  private:
    double DoCalcRxPower(double txPowerDbm,
                         Ptr<MobilityModel> a,
                         Ptr<MobilityModel> b) const override;
    int64_t DoAssignStreams(int64_t stream) override;

    struct Entry
    {
        uint64_t epoch;   //!< interval of gainDb
        uint64_t lsEpoch; //!< large-scale period of lossDb
        double gainDb;    //!< -loss + fading, dB
        double lossDb;    //!< path loss + shadowing, dB
    };

    Ptr<ThreeGppIndoorFactoryPropagationLossModel> m_highBs;
    Ptr<ThreeGppIndoorFactoryPropagationLossModel> m_lowBs;
    Ptr<ThreeGppIndoorFactoryPropagationLossModel> m_highHigh;
    std::unique_ptr<fedmarl::Ar1RayleighFading> m_fading;
    std::vector<Ptr<MobilityModel>> m_mobility;   //!< by index
    std::vector<uint8_t> m_isAp;                  //!< by index
    std::unordered_map<const MobilityModel*, uint32_t> m_index;
    mutable std::unordered_map<uint64_t, Entry> m_cache;
    uint64_t m_epoch{1};
    uint64_t m_lsEpoch{1};
    mutable uint64_t m_evaluations{0};
};

} // namespace ns3

#endif // FEDMARL_EDGE_LINK_LOSS_MODEL_H
