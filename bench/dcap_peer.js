// bench/dcap_peer.js: the peer figure for bench/dcap.sh: Phala's
// @phala/dcap-qvl (pure JavaScript DCAP quote verification, the project the
// SGX vector comes from) verifying the same quotes with the same collateral
// at the same fixed times. Prints "<case> <median ms> <p90 ms> <n>
// <status>" like bench_dcap.
'use strict';
const fs = require('fs');
const { verify } = require('@phala/dcap-qvl');

const A = process.argv[2] + '/attestation';
const N = 300;

function pcsBody(path, key) {
    // the exact signed bytes of the value, as the signature covers them
    const text = fs.readFileSync(path, 'utf-8');
    const doc = JSON.parse(text);
    const start = text.indexOf('{', text.indexOf('"' + key + '"'));
    const end = text.lastIndexOf(',"signature"');
    return { body: text.slice(start, end), sig: doc.signature };
}

function bench(name, quote, coll, when) {
    const t = [];
    let outcome;
    for (let i = 0; i < N; i++) {
        const t0 = process.hrtime.bigint();
        // dcap-qvl throws for a debug TD after all cryptographic checks
        // (tdx_quote_4 is one): the time is still the whole verification
        try {
            outcome = verify(quote, coll, when).status;
        } catch (e) {
            outcome = 'rejected: ' + e.message;
        }
        t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    t.sort((a, b) => a - b);
    console.log(`${name.padEnd(22)} ${t[N >> 1].toFixed(3).padStart(8)} ` +
                `${t[Math.floor(N * 0.9)].toFixed(3).padStart(8)} ` +
                `${String(N).padStart(6)} ${outcome}`);
}

const gtg = A + '/tdx/gtg-spr-e4-v4';
const chain = fs.readFileSync(gtg + '/tcb_signing_chain_2018-2025.pem', 'utf-8');
const ti = pcsBody(gtg + '/tcbinfo_fmspc_50806f000000.json', 'tcbInfo');
const qi = pcsBody(gtg + '/qe_identity_td_qe.json', 'enclaveIdentity');
const tdxColl = {
    pck_crl_issuer_chain: fs.readFileSync(gtg + '/pck_platform_ca_chain.pem', 'utf-8'),
    root_ca_crl: fs.readFileSync(gtg + '/root_crl.der').toString('hex'),
    pck_crl: fs.readFileSync(gtg + '/pck_platform_crl.der').toString('hex'),
    tcb_info_issuer_chain: chain,
    tcb_info: ti.body,
    tcb_info_signature: ti.sig,
    qe_identity_issuer_chain: chain,
    qe_identity: qi.body,
    qe_identity_signature: qi.sig,
};
bench('peer.tdx_ms',
      fs.readFileSync(A + '/tdx/trustee-tdx-quotes/tdx_quote_4.dat'), tdxColl,
      Date.parse('2023-07-01T01:00:00Z') / 1000);
const ph = A + '/sgx/phala-sgx-v3';
bench('peer.sgx_ms', fs.readFileSync(ph + '/sgx_quote_v3.bin'),
      JSON.parse(fs.readFileSync(ph + '/sgx_quote_collateral.json')),
      Date.parse('2025-07-19T10:01:17Z') / 1000);
