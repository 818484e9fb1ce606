# DA-KPN (online, on the source half of each batch) + global then local
# adversarial alignment. tools/train_uda.py --bundle replaces the bundle.
_base_ = ['./fcn_tiny_demo-global-local.py']
model = dict(translation=dict(
    _delete_=True, checkpoint={{_base_.bundle}}, prob=1.0))
