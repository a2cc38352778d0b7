#!/usr/bin/env python3
"""collateral-bundle.py: builds a sealtrain offline collateral bundle
(docs/attestation.md, "Offline collateral") from files fetched from AMD KDS
and Intel PCS, for `sealtrain attest collateral import`.

    scripts/collateral-bundle.py -o bundle.json KIND=FILE ...

KIND is a document kind (amd.vcek, amd.vlek, amd.ask, amd.asvk, amd.ark,
amd.crl, intel.tcb_info, intel.tcb_info.early, intel.qe_identity,
intel.tcb_chain, intel.root_ca_crl, intel.pck_crl), or one of two
conveniences:
  amd.chain=PEM    a KDS cert_chain (ASK/ASVK and ARK): one document per
                   certificate, its kind from the subject CN
  intel.qvl=JSON   a dcap-qvl QuoteCollateralV3: its TCB Info, QE Identity,
                   TCB signing chain and CRLs

Files are taken byte for byte (Intel's signatures cover the exact text).
Nothing is fetched and nothing is verified here: sealtrain verifies every
document at each use.
"""
import base64
import json
import re
import sys

KINDS = {"amd.vcek", "amd.vlek", "amd.ask", "amd.asvk", "amd.ark", "amd.crl",
         "intel.tcb_info", "intel.qe_identity", "intel.tcb_chain",
         "intel.root_ca_crl", "intel.pck_crl"}


def doc(kind, data, update=None):
    d = {"kind": kind, "data": base64.b64encode(data).decode()}
    if update:
        d["update"] = update
    return d


def subject_cn(pem):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    cert = x509.load_pem_x509_certificate(pem)
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def amd_chain(data):
    out = []
    for pem in re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?",
                          data, re.S):
        cn = subject_cn(pem)
        kind = ("amd.ark" if cn.startswith("ARK-") else
                "amd.asvk" if cn.startswith("SEV-VLEK-") else "amd.ask")
        out.append(doc(kind, pem))
    if not out:
        sys.exit("amd.chain: no PEM certificate")
    return out


def intel_qvl(data):
    q = json.loads(data)
    tcb = ('{"tcbInfo":%s,"signature":"%s"}' %
           (q["tcb_info"], q["tcb_info_signature"])).encode()
    qe = ('{"enclaveIdentity":%s,"signature":"%s"}' %
          (q["qe_identity"], q["qe_identity_signature"])).encode()
    return [doc("intel.tcb_info", tcb, "standard"),
            doc("intel.qe_identity", qe),
            doc("intel.tcb_chain", q["tcb_info_issuer_chain"].encode()),
            doc("intel.root_ca_crl", bytes.fromhex(q["root_ca_crl"])),
            doc("intel.pck_crl", bytes.fromhex(q["pck_crl"]))]


def main(argv):
    out = None
    docs = []
    args = iter(argv)
    for a in args:
        if a == "-o":
            out = next(args, None)
            continue
        kind, sep, path = a.partition("=")
        if not sep:
            sys.exit(__doc__)
        data = open(path, "rb").read()
        if kind == "amd.chain":
            docs += amd_chain(data)
        elif kind == "intel.qvl":
            docs += intel_qvl(data)
        elif kind == "intel.tcb_info.early":
            docs.append(doc("intel.tcb_info", data, "early"))
        elif kind == "intel.tcb_info":
            docs.append(doc(kind, data, "standard"))
        elif kind in KINDS:
            docs.append(doc(kind, data))
        else:
            sys.exit("unknown kind %r (see --help)" % kind)
    if not docs:
        sys.exit(__doc__)
    text = json.dumps({"type": "sealtrain-collateral", "version": 1,
                       "documents": docs}, indent=1) + "\n"
    if out:
        open(out, "w").write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
