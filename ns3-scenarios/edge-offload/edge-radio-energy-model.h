/*
 * fedmarl-ns3: ns-3's WifiRadioEnergyModel without its per-state-change switch-off event.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_EDGE_RADIO_ENERGY_MODEL_H
#define FEDMARL_EDGE_RADIO_ENERGY_MODEL_H

#include "ns3/nstime.h"
#include "ns3/wifi-phy-state.h"
#include "ns3/wifi-radio-energy-model.h"

namespace ns3
{
namespace energy
{

/**
 * @ingroup energy
 * @brief A WifiRadioEnergyModel (same attributes, same PHY listener, same per-state currents)
 *        whose ChangeState only integrates the energy: I(state) V per second in each PHY state.
 *
 * Why: ns-3 3.44's WifiRadioEnergyModel::ChangeState schedules, at every PHY state change, a
 * switch-off event at remaining energy / (I V) and cancels the previous one. A cancelled ns-3
 * event stays in the scheduler until its time, so with a source that must last an episode the
 * scheduler grows by one far-future event per state change (12 % of the run time at U = 20,
 * mostly map inserts), a current of exactly 0 switches the model OFF at once (it then stops
 * counting), and a large source overflows ns-3's Time; HandleEnergyChanged (called at every
 * source update) schedules the same event. This scenario's sources never run out
 * (its energies are what the models count, not a battery's life), so nothing is lost by not
 * scheduling the switch-off; the energy source still integrates this model's current
 * (DoGetCurrentA) at every change.
 */
class EdgeWifiRadioEnergyModel : public WifiRadioEnergyModel
{
  public:
    /// @return the TypeId
    static TypeId GetTypeId();
    EdgeWifiRadioEnergyModel();
    ~EdgeWifiRadioEnergyModel() override;

    void SetEnergySource(const Ptr<EnergySource> source) override;
    /// @return the energy drawn since construction, incl. the state in progress, J
    double GetTotalEnergyConsumption() const override;
    /// @param newState a WifiPhyState
    void ChangeState(int newState) override;
    /// Nothing: the base class schedules its switch-off here too (at every source update).
    void HandleEnergyChanged() override;
    /// Nothing: the model never switched off.
    void HandleEnergyRecharged() override;
    /// @return the PHY state the model is in
    WifiPhyState GetState() const;
    /// @return the current drawn in `state`, A
    double GetCurrentA(WifiPhyState state) const;

  private:
    double DoGetCurrentA() const override;

    Ptr<EnergySource> m_src;                 //!< the node's source
    WifiPhyState m_state{WifiPhyState::IDLE}; //!< current PHY state
    Time m_last;                             //!< start of the state in progress
    double m_total{0.0};                     //!< J up to m_last
};

} // namespace energy
} // namespace ns3

#endif // FEDMARL_EDGE_RADIO_ENERGY_MODEL_H
