/*
 * fedmarl-ns3: the energy a device CPU draws from the node's energy source (DVFS model).
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_CPU_ENERGY_MODEL_H
#define FEDMARL_CPU_ENERGY_MODEL_H

#include "ns3/device-energy-model.h"
#include "ns3/energy-source.h"
#include "ns3/nstime.h"
#include "ns3/traced-value.h"

namespace ns3
{
namespace energy
{

/**
 * @ingroup energy
 * @brief A CPU with dynamic voltage and frequency scaling as an ns-3 DeviceEnergyModel.
 *
 * While busy at frequency f the CPU draws P = kappa f^3 W (so kappa f^2 J per cycle, Mao et al.
 * 2017); while idle it draws IdlePowerW. The current it asks from its EnergySource is P / V
 * (V the source's supply voltage), so a BasicEnergySource integrates the same energy as
 * GetTotalEnergyConsumption(). States: ChangeState(IDLE | BUSY); SetFrequency(f) changes f.
 * Every change first integrates the energy of the elapsed period at the old power and updates
 * the source.
 */
class CpuEnergyModel : public DeviceEnergyModel
{
  public:
    /// CPU states.
    enum State
    {
        IDLE = 0, //!< no work: IdlePowerW
        BUSY = 1, //!< executing: Kappa f^3
    };

    /// @return the TypeId
    static TypeId GetTypeId();
    CpuEnergyModel();
    ~CpuEnergyModel() override;

    void SetEnergySource(Ptr<EnergySource> source) override;
    /// @return the energy drawn since construction (incl. the period in progress), J
    double GetTotalEnergyConsumption() const override;
    /// @param newState IDLE or BUSY
    void ChangeState(int newState) override;
    void HandleEnergyDepletion() override;
    void HandleEnergyRecharged() override;
    void HandleEnergyChanged() override;

    /// @param hz the clock frequency while busy, Hz
    void SetFrequency(double hz);
    /// @return the clock frequency, Hz
    double GetFrequency() const;
    /// @return the current state
    State GetState() const;
    /// @return the power drawn now, W
    double GetPowerW() const;

  private:
    void DoDispose() override;
    double DoGetCurrentA() const override;
    /// Add the energy of [m_lastUpdate, now) at the current power.
    void Integrate();

    Ptr<EnergySource> m_source;                   //!< the node's energy source
    double m_kappa{1e-28};                        //!< J/cycle/Hz^2
    double m_idlePowerW{0.01};                    //!< W
    double m_frequency{1e9};                      //!< Hz
    State m_state{IDLE};                          //!< current state
    Time m_lastUpdate;                            //!< start of the period in progress
    TracedValue<double> m_totalEnergyConsumption; //!< J, up to m_lastUpdate
};

} // namespace energy
} // namespace ns3

#endif // FEDMARL_CPU_ENERGY_MODEL_H
