/*
 * fedmarl-ns3: temporally correlated Rayleigh fading, an AR(1) process per link.
 * SPDX-License-Identifier: GPL-2.0-only
 */

#ifndef FEDMARL_AR1_RAYLEIGH_FADING_H
#define FEDMARL_AR1_RAYLEIGH_FADING_H

#include "ns3/ptr.h"

#include <complex>
#include <cstdint>
#include <vector>

namespace ns3
{

class NormalRandomVariable;

namespace fedmarl
{

/**
 * @ingroup fedmarl
 * Rayleigh block fading of many links, each an AR(1) process in decision steps:
 * h <- rho h + sqrt(1 - rho^2) w, w ~ CN(0, 1), with rho = J0(2 pi f_D T) (FadingRho). The
 * stationary law is h ~ CN(0, 1), so |h|^2 ~ Exp(1) multiplies a link's mean received power.
 *
 * Links are keyed by (transmitter id, receiver id), e.g. ns-3 node ids, and are created on first
 * query with a stationary draw. Two ways to advance time, identical in distribution:
 * - lazy (default): Advance only counts steps; a link queried g steps after its last update
 *   catches up in one exact move with coefficient rho^g and innovation sqrt(1 - rho^(2g)) (an
 *   AR(1) sampled every g steps is an AR(1) with coefficient rho^g). Links nobody queries cost
 *   nothing, which is what makes large N affordable (the twin does the same for the links it
 *   leaves out of its faded set).
 * - eager: Advance updates every known link at once.
 * A change of rho first brings every link up to date with the old rho, so catch-up stays exact.
 *
 * Randomness comes from one ns-3 NormalRandomVariable (AssignStreams fixes its stream); draws
 * happen in query order, and CatchUpAll visits links in (tx, rx) order, so a run is
 * reproducible. Links are kept per receiver in a vector sorted by transmitter: the queries of a
 * step (each device's own and faded links) touch a few contiguous entries instead of an ordered
 * map's scattered nodes (11-14 % of an N = 1000 ns-3 run went to map lookups). Receiver ids
 * index that vector, so they should be dense (device indices, ns-3 node ids).
 */
class Ar1RayleighFading
{
  public:
    /**
     * @param rho the AR(1) coefficient per step, in [-1, 1]
     * @param lazy catch links up on query (true) or update all links on every Advance (false)
     */
    explicit Ar1RayleighFading(double rho = 0.0, bool lazy = true);

    /**
     * Advance one step with the current coefficient.
     */
    void Advance();

    /**
     * Advance one step with coefficient rho (which becomes the current one).
     * @param rho the AR(1) coefficient of this step, in [-1, 1]
     */
    void Advance(double rho);

    /**
     * Set the coefficient of the following steps (links are first brought up to date).
     * @param rho the AR(1) coefficient per step, in [-1, 1]
     */
    void SetRho(double rho);
    /// @return the current AR(1) coefficient
    double GetRho() const;

    /**
     * @param tx transmitter id
     * @param rx receiver id
     * @return the complex gain h of the link at the current step
     */
    std::complex<double> Gain(uint32_t tx, uint32_t rx);

    /**
     * @param tx transmitter id
     * @param rx receiver id
     * @return the power gain |h|^2 of the link at the current step (mean 1)
     */
    double Power(uint32_t tx, uint32_t rx);

    /// @return the number of steps advanced since construction or Reset
    uint64_t GetStep() const;
    /// @return the number of links created so far
    size_t GetNLinks() const;
    /// @return true when links are caught up on query
    bool IsLazy() const;

    /// Forget every link (a new episode): the next query of a link draws a stationary start.
    void Reset();

    /**
     * @param stream the stream index of the normal random variable
     * @return the number of streams used (1)
     */
    int64_t AssignStreams(int64_t stream);

  private:
    /// One link's state.
    struct Link
    {
        std::complex<double> h; //!< complex gain
        uint64_t step;          //!< the step h belongs to
    };

    /// @return a CN(0, 1) sample
    std::complex<double> DrawCn();
    /**
     * Bring a link up to the current step.
     * @param link the link
     */
    void CatchUp(Link& link);
    /// Bring every link up to the current step.
    void CatchUpAll();
    /**
     * @param tx transmitter id
     * @param rx receiver id
     * @return the link at the current step (created with a stationary draw if new)
     */
    Link& Get(uint32_t tx, uint32_t rx);

    /// A link in its receiver's list.
    struct Entry
    {
        uint32_t tx; //!< transmitter id
        Link link;   //!< its state
    };

    double m_rho;                              //!< AR(1) coefficient per step
    bool m_lazy;                               //!< catch up on query
    uint64_t m_step{0};                        //!< steps advanced
    std::vector<std::vector<Entry>> m_byRx;    //!< per receiver id: links sorted by tx id
    size_t m_nLinks{0};                        //!< links created
    Ptr<NormalRandomVariable> m_normal;        //!< innovation source
};

} // namespace fedmarl
} // namespace ns3

#endif // FEDMARL_AR1_RAYLEIGH_FADING_H
