# shellcheck shell=bash
# PKI for one local control plane, made with the openssl CLI. Source it; it defines functions only.
#
# Keys are ECDSA P-256: generation takes milliseconds, and every Kubernetes v1.20 component accepts them
# for serving, client and signing certificates and for signing service-account tokens (ES256). The pods
# plugin asks for a token per pod, and each costs a signature: Go 1.19 signs with RSA 2048 in about 1 ms,
# with P-256 in 25 us (the ideal client of bench/run.sh, 1,000 pods without
# token Secrets: 4.83 s with RSA, 3.99 s with P-256). VC_BED_SA_KEY=rsa makes an RSA 2048 key (RS256)
# instead, for a consumer that accepts nothing else.

# pki_ec_key FILE: a new ECDSA P-256 private key.
pki_ec_key() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null || die "openssl could not create $1"
}

# pki_cert DIR NAME CN ORG SAN_OR_EMPTY USAGE
# Writes DIR/NAME.key and DIR/NAME.crt signed by DIR/CA.{crt,key}, CA being $PKI_CA or "ca". ORG
# may be empty. USAGE is "server", "client" or "both" and selects the extendedKeyUsage.
pki_cert() {
  local dir=$1 name=$2 cn=$3 org=$4 san=$5 usage=$6 subj eku ca=${PKI_CA:-ca}
  subj="/CN=$cn"
  [ -z "$org" ] || subj="/O=$org$subj"
  case $usage in
    server) eku=serverAuth ;;
    client) eku=clientAuth ;;
    both) eku=serverAuth,clientAuth ;;
    *) die "pki_cert: unknown usage '$usage'" ;;
  esac
  pki_ec_key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "$subj" -out "$dir/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null \
    || die "openssl could not sign $dir/$name.crt"
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

# pki_ca DIR NAME CN: a self-signed CA in DIR/NAME.{crt,key}.
pki_ca() {
  local dir=$1 name=$2 cn=$3
  pki_ec_key "$dir/$name.key"
  openssl req -x509 -new -key "$dir/$name.key" -subj "/CN=$cn" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$dir/$name.crt" 2>/dev/null || die "openssl could not create the CA $dir/$name.crt"
}

# pki_create DIR FIRST_SERVICE_IP
# Creates the cluster's CA and front-proxy CA, the API server's serving certificate, client certificates for the admin,
# the controller manager, the scheduler and the API server's kubelet client, and the service-account
# key pair.
pki_create() {
  local dir=$1 svc_ip=$2
  mkdir -p "$dir"
  pki_ca "$dir" ca vcluster-bed-ca
  # A second CA for the aggregation layer's request-header authentication, as kubeadm does: a client
  # certificate of the main CA must not be able to assert X-Remote-User.
  pki_ca "$dir" front-proxy-ca vcluster-bed-front-proxy-ca
  PKI_CA=front-proxy-ca pki_cert "$dir" front-proxy-client front-proxy-client "" "" client
  pki_cert "$dir" apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
    server
  # system:masters is bound to cluster-admin by the bootstrap RBAC policy.
  pki_cert "$dir" admin admin system:masters "" client
  # The bootstrap policy binds these user names to system:kube-controller-manager and system:kube-scheduler.
  pki_cert "$dir" controller-manager system:kube-controller-manager "" "" client
  pki_cert "$dir" scheduler system:kube-scheduler "" "" client
  # The API server presents this to kubelets for logs/exec/port-forward; the bootstrap policy grants
  # the user kube-apiserver-kubelet-client nothing, so it carries system:masters.
  pki_cert "$dir" apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" client
  case ${VC_BED_SA_KEY:-ec} in
    ec)
      pki_ec_key "$dir/sa.key"
      openssl ec -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null || die "openssl could not derive $dir/sa.pub"
      ;;
    rsa)
      openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
      openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null || die "openssl could not derive $dir/sa.pub"
      ;;
    *) die "VC_BED_SA_KEY must be ec or rsa, got '$VC_BED_SA_KEY'" ;;
  esac
  chmod 600 "$dir"/*.key
}

# pki_kubeconfig OUT CLUSTER_NAME SERVER PKI_DIR CERT_NAME
# Writes a kubeconfig with the CA, client certificate and key embedded; the context is CLUSTER_NAME.
pki_kubeconfig() {
  local out=$1 name=$2 server=$3 dir=$4 cert=$5
  cat >"$out" <<KC
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$dir/ca.crt")
users:
- name: $name-$cert
  user:
    client-certificate-data: $(base64 -w0 "$dir/$cert.crt")
    client-key-data: $(base64 -w0 "$dir/$cert.key")
contexts:
- name: $name
  context:
    cluster: $name
    user: $name-$cert
current-context: $name
KC
  chmod 600 "$out"
}
