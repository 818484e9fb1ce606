# Model B of the symmetric recipe on the demo data: the original source plus
# the target translated to the source style by a target -> source DA-KPN
# (tools/train_dakpn.py --reverse), output-space adversarial alignment.
# Model A is fcn_tiny_demo-dakpn-adversarial.py; tools/train_symmetric.py
# runs both, the pseudo-label rounds and the fusion.
_base_ = ['./fcn_tiny_demo-adversarial.py']
reverse_bundle = 'work_dirs/demo/dakpn_reverse/dakpn_bundle.pth'
model = dict(target_translation=dict(
    _delete_=True, checkpoint=reverse_bundle, prob=1.0))
